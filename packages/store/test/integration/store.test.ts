/**
 * The store's repositories against the real control database, each through the database role of the service
 * that uses it (the gateway's and the orchestrator's grants are part of what is tested). Needs the local stack
 * (make up). Runs live in a tenant of their own and end in a final status, so the running orchestrator's
 * reconciler never picks them up; outbox rows carry a producer no service relays.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, InputError, NotFoundError, type PipelineSpec } from '@aoetl/contracts';
import { stackEnv } from '@aoetl/testing';
import { Store, createPool, type RunRecord } from '../../src/index.js';

function storeAs(service: 'agent-gateway' | 'orchestrator', producer: string): Store {
  const env = stackEnv(service);
  const pool = createPool({ url: env.AOETL_DATABASE_URL!, password: env.AOETL_DATABASE_PASSWORD!, max: 2, applicationName: 'store-test' });
  return new Store(pool, producer);
}

const suffix = randomUUID().slice(0, 8);
const tenant = `store-test-${suffix}`;
const gateway = storeAs('agent-gateway', `store-test-gateway-${suffix}`);
const orchestrator = storeAs('orchestrator', `store-test-orchestrator-${suffix}`);
const ctx = { requestId: `store-test-${suffix}` };
const runs: string[] = [];

const spec = (name: string): PipelineSpec => ({
  name,
  source: { connection: 'crm', table: 'crm.customers' },
  target: { connection: 'warehouse', table: 'silver.customers', mode: 'append' },
  transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
});

async function newRun(approvalRequired = false, idempotencyKey?: string): Promise<RunRecord> {
  const p = await gateway.pipelines.create(tenant, spec(`p-${randomUUID().slice(0, 8)}`), 'alice');
  const { run } = await gateway.runs.create({ tenant, pipelineId: p.id, submittedBy: 'alice', approvalRequired, ctx, ...(idempotencyKey ? { idempotencyKey } : {}) });
  runs.push(run.id);
  return run;
}

/** What the producer's relay would publish now (and marks it published). */
async function relayed(store: Store): Promise<{ stream: string; type: string; payload: Record<string, unknown> }[]> {
  const out: { stream: string; type: string; payload: Record<string, unknown> }[] = [];
  await store.outbox.relay(async (stream, message) => {
    out.push({ stream, ...(message as { type: string; payload: Record<string, unknown> }) });
  });
  return out;
}

afterAll(async () => {
  try {
    for (const id of runs) {
      await orchestrator.runs.transition(id, ['queued', 'planning', 'running'], 'failed', { error: { code: 'aborted', message: 'test cleanup' } });
    }
    await relayed(gateway);
    await relayed(orchestrator);
  } finally {
    await gateway.close();
    await orchestrator.close();
  }
});

describe('pipelines', () => {
  it('refuses a second live pipeline of the same name with a ConflictError on the domain field `name`', async () => {
    const name = `dup-${suffix}`;
    await gateway.pipelines.create(tenant, spec(name), 'alice');
    const err = await gateway.pipelines.create(tenant, spec(name), 'bob').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ details: [{ field: 'name' }] });
  });

  it('hides a deleted pipeline and another tenant\'s, except a deleted one when asked for it', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`del-${suffix}`), 'alice');
    await expect(gateway.pipelines.get(`other-${tenant}`, p.id)).rejects.toBeInstanceOf(NotFoundError);
    await gateway.pipelines.delete(tenant, p.id, 'alice');
    await expect(gateway.pipelines.get(tenant, p.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(orchestrator.pipelines.get(tenant, p.id, { includeDeleted: true })).resolves.toMatchObject({ id: p.id, tenant });
    await expect(gateway.pipelines.delete(tenant, p.id, 'alice')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('runs', () => {
  it('queues a run with its request in the outbox; the same idempotency key finds the same run', async () => {
    const key = `k-${suffix}`;
    const run = await newRun(false, key);
    expect(run).toMatchObject({ status: 'queued', tenant, approvalRequired: false, chunks: 1 });
    const again = await gateway.runs.create({ tenant, pipelineId: run.pipelineId, submittedBy: 'alice', idempotencyKey: key, approvalRequired: false, ctx });
    expect(again).toMatchObject({ created: false, run: { id: run.id } });
    expect((await relayed(gateway)).map((m) => [m.type, m.payload.runId])).toEqual([['run.requested', run.id]]);
  });

  it('keeps a run that needs an approval waiting, with nothing in the outbox', async () => {
    const run = await newRun(true);
    expect(run.status).toBe('awaiting_approval');
    expect(await relayed(gateway)).toEqual([]);
  });

  it('creates no run for another tenant\'s pipeline or a deleted one', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`x-${suffix}`), 'alice');
    const input = { pipelineId: p.id, submittedBy: 'alice', approvalRequired: false, ctx };
    await expect(gateway.runs.create({ ...input, tenant: `other-${tenant}` })).rejects.toBeInstanceOf(NotFoundError);
    await gateway.pipelines.delete(tenant, p.id, 'alice');
    await expect(gateway.runs.create({ ...input, tenant })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a forged cursor with an InputError on the domain field `cursor`', async () => {
    const err = await gateway.runs.list(tenant, {}, { limit: 5, cursor: 'bm90LWEtY3Vyc29y' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err).toMatchObject({ details: [{ field: 'cursor' }] });
  });

  it('cancels a run that has not started, once', async () => {
    const run = await newRun();
    await expect(gateway.runs.cancel(tenant, run.id, 'alice')).resolves.toMatchObject({ status: 'cancelled', cancelledBy: 'alice' });
    await expect(gateway.runs.cancel(tenant, run.id, 'alice')).rejects.toBeInstanceOf(ConflictError);
    expect((await gateway.runs.steps(tenant, run.id)).map((s) => s.status)).toEqual(['queued', 'cancelled']);
  });

  it('walks a run to success as the orchestrator does: chunks recorded, the commit dispatched once', async () => {
    const run = await newRun();
    await relayed(gateway);
    const runs = orchestrator.runs;
    const status = (to: string) => [{ stream: 'aoetl:events', message: { type: 'run.status', to } }];
    expect(await runs.transition(run.id, ['queued'], 'planning', {}, status('planning'))).toMatchObject({ status: 'planning' });
    expect(await runs.transition(run.id, ['queued'], 'planning')).toBeNull(); // redelivered: no-op
    expect(await runs.transition(run.id, ['planning'], 'running', { chunks: 2, artifactSha256: 'a'.repeat(64) })).toMatchObject({
      status: 'running',
      chunks: 2,
      artifactSha256: 'a'.repeat(64),
    });

    expect(await runs.recordChunk(run.id, 0, { rowsIn: 10, rowsOut: 9, bytesOut: 90 })).toEqual({ staged: 1, of: 2, complete: false });
    expect(await runs.recordChunk(run.id, 1, { rowsIn: 5, rowsOut: 5, bytesOut: 50 })).toEqual({ staged: 2, of: 2, complete: true });
    expect(await runs.recordChunk(run.id, 1, { rowsIn: 99, rowsOut: 99, bytesOut: 99 })).toEqual({ staged: 2, of: 2, complete: true });
    expect(await runs.chunkTotals(run.id)).toEqual({ rowsIn: 15, rowsOut: 14, bytesOut: 140 });
    expect((await runs.stagedChunks(run.id)).sort()).toEqual([0, 1]);

    const commit = [{ stream: 'aoetl:tasks', message: { type: 'task.commit' } }];
    expect(await runs.dispatchCommit(run.id, commit)).toBe(true);
    expect(await runs.dispatchCommit(run.id, commit)).toBe(false);
    expect(await runs.transition(run.id, ['running'], 'succeeded', { rowsIn: 15, rowsOut: 14, bytesOut: 140 })).toMatchObject({
      status: 'succeeded',
      rowsOut: 14,
    });

    expect((await relayed(orchestrator)).map((m) => m.type)).toEqual(['run.status', 'task.commit']);
    const seen = await gateway.runs.get(tenant, run.id);
    expect(seen).toMatchObject({ status: 'succeeded', rowsIn: 15, rowsOut: 14, bytesOut: 140 });
    expect(seen.startedAt).not.toBeNull();
    expect(seen.finishedAt).not.toBeNull();
    expect((await gateway.runs.steps(tenant, run.id)).map((s) => s.status)).toEqual(['queued', 'planning', 'running', 'succeeded']);
  });
});
