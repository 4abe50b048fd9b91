/**
 * The store's repositories against the real control database, each through the database role of the service
 * that uses it (the gateway's and the orchestrator's grants are part of what is tested). Needs the local stack
 * (make up). Runs live in a tenant of their own and end in a final status, so the running orchestrator's
 * reconciler never picks them up; outbox rows carry a producer no service relays.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, InputError, NotFoundError, transformSource } from '@aoetl/contracts';
import { stackEnv } from '@aoetl/testing';
import { Store, createPool, sha256Hex, type RunRecord, type StoredPipelineSpec } from '../../src/index.js';

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

const spec = (name: string): StoredPipelineSpec => ({
  name,
  source: { connection: 'crm', table: 'crm.customers' },
  target: { connection: 'warehouse', table: 'silver.customers', mode: 'append' },
  transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
});

async function newRun(approvalRequired = false, idempotencyKey?: string): Promise<RunRecord> {
  const p = await gateway.pipelines.create(tenant, spec(`p-${randomUUID().slice(0, 8)}`), 'alice', { approvalRequired });
  const { run } = await gateway.runs.create({
    tenant, pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'alice', approvalRequired, ctx, ...(idempotencyKey ? { idempotencyKey } : {}),
  });
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
    await gateway.pipelines.create(tenant, spec(name), 'alice', { approvalRequired: false });
    const err = await gateway.pipelines.create(tenant, spec(name), 'bob', { approvalRequired: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ details: [{ field: 'name' }] });
  });

  it('hides a deleted pipeline and another tenant\'s, except a deleted one when asked for it', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`del-${suffix}`), 'alice', { approvalRequired: false });
    await expect(gateway.pipelines.get(`other-${tenant}`, p.id)).rejects.toBeInstanceOf(NotFoundError);
    await gateway.pipelines.delete(tenant, p.id, 'alice');
    await expect(gateway.pipelines.get(tenant, p.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(orchestrator.pipelines.get(tenant, p.id, { includeDeleted: true })).resolves.toMatchObject({ id: p.id, tenant });
    await expect(gateway.pipelines.delete(tenant, p.id, 'alice')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('pipeline versions', () => {
  it('writes every change as an immutable version with its artifact, in the same transaction', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`v-${suffix}`), 'alice', { approvalRequired: false });
    expect(p).toMatchObject({ version: 1, artifactSha256: sha256Hex(transformSource(spec('x').transform)), approvalRequired: false });
    const code2 = 'def transform(rows):\n    return rows[:1]\n';
    const p2 = await gateway.pipelines.update(tenant, p.id, { ...spec(p.name), transform: { kind: 'python', code: code2 } }, 'bob', {
      expectedVersion: 1,
      approvalRequired: true,
    });
    expect(p2).toMatchObject({ version: 2, artifactSha256: sha256Hex(code2), approvalRequired: true });
    const back = await gateway.pipelines.update(tenant, p.id, (await gateway.pipelines.version(tenant, p.id, 1)).spec, 'bob', {
      expectedVersion: 2,
      approvalRequired: false,
      rollbackOf: 1,
    });
    expect(back).toMatchObject({ version: 3, artifactSha256: p.artifactSha256 });

    const page = await gateway.pipelines.versions(tenant, p.id, { limit: 2 });
    expect(page.items.map((v) => [v.version, v.rollbackOf, v.createdBy])).toEqual([[3, 1, 'bob'], [2, null, 'bob']]);
    const rest = await gateway.pipelines.versions(tenant, p.id, { limit: 2, cursor: page.nextCursor! });
    expect(rest.items.map((v) => v.version)).toEqual([1]);
    expect(rest.nextCursor).toBeNull();
    // Two versions of code, one artifact each: the rollback reused version 1's, nothing was overwritten.
    const artifacts = await gateway.artifacts.list(tenant, p.id, { limit: 10 });
    expect(artifacts.items.map((a) => [a.version, a.sha256])).toEqual([[2, sha256Hex(code2)], [1, p.artifactSha256]]);
  });

  it('refuses a change decided on a stale version, and names an unknown version', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`stale-${suffix}`), 'alice', { approvalRequired: false });
    await gateway.pipelines.update(tenant, p.id, spec(p.name), 'alice', { expectedVersion: 1, approvalRequired: false });
    const stale = await gateway.pipelines.update(tenant, p.id, spec(p.name), 'bob', { expectedVersion: 1, approvalRequired: false }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect(stale).toMatchObject({ details: [{ field: 'version' }] });
    const unknown = await gateway.pipelines.version(tenant, p.id, 99).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(unknown).toMatchObject({ details: [{ field: 'version' }] });
    expect((await gateway.pipelines.get(tenant, p.id)).version).toBe(2);
  });
});

describe('runs', () => {
  it('snapshots the submitted version: a later change or delete of the pipeline does not touch the run', async () => {
    const run = await newRun(true);
    expect(run).toMatchObject({ pipelineVersion: 1, artifactSha256: sha256Hex(transformSource(run.snapshot!.transform)), plan: null });
    const changed = { ...run.snapshot!, target: { ...run.snapshot!.target, mode: 'replace' as const }, transform: { kind: 'python' as const, code: 'x = 1\n' } };
    await gateway.pipelines.update(tenant, run.pipelineId, changed, 'alice', { expectedVersion: 1, approvalRequired: true });
    await gateway.pipelines.delete(tenant, run.pipelineId, 'alice');
    const after = await orchestrator.runs.getById(run.id);
    expect(after).toMatchObject({ pipelineVersion: 1, artifactSha256: run.artifactSha256, snapshot: run.snapshot });

    // The approval binds to that snapshot, not to the pipeline's current version.
    const approval = await gateway.approvals.decide({ tenant, runId: run.id, decidedBy: 'bob', decision: 'approved', ctx });
    expect(approval).toMatchObject({ state: 'approved', pipelineVersion: 1, artifactSha256: run.artifactSha256 });
    expect(await orchestrator.approvals.get(tenant, run.id)).toMatchObject({ pipelineVersion: 1, artifactSha256: run.artifactSha256 });
    expect((await relayed(gateway)).map((m) => [m.type, m.payload.runId])).toEqual([['run.requested', run.id]]);
  });

  it('refuses a submit decided on a version the pipeline no longer has', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`sub-${suffix}`), 'alice', { approvalRequired: false });
    await gateway.pipelines.update(tenant, p.id, spec(p.name), 'alice', { expectedVersion: 1, approvalRequired: false });
    const err = await gateway.runs
      .create({ tenant, pipelineId: p.id, pipelineVersion: 1, submittedBy: 'alice', approvalRequired: false, ctx })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ details: [{ field: 'version' }] });
  });

  it('queues a run with its request in the outbox; the same idempotency key finds the same run', async () => {
    const key = `k-${suffix}`;
    const run = await newRun(false, key);
    expect(run).toMatchObject({ status: 'queued', tenant, approvalRequired: false, chunks: 1 });
    const again = await gateway.runs.create({
      tenant, pipelineId: run.pipelineId, pipelineVersion: 1, submittedBy: 'alice', idempotencyKey: key, approvalRequired: false, ctx,
    });
    expect(again).toMatchObject({ created: false, run: { id: run.id } });
    expect((await relayed(gateway)).map((m) => [m.type, m.payload.runId])).toEqual([['run.requested', run.id]]);
  });

  it('keeps a run that needs an approval waiting, with nothing in the outbox', async () => {
    const run = await newRun(true);
    expect(run.status).toBe('awaiting_approval');
    expect(await relayed(gateway)).toEqual([]);
  });

  it('creates no run for another tenant\'s pipeline or a deleted one', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`x-${suffix}`), 'alice', { approvalRequired: false });
    const input = { pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'alice', approvalRequired: false, ctx };
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
    const plan = {
      chunks: 2,
      source: { connection: { name: 'crm', kind: 'postgres' as const, host: 'h', port: 5432, database: 'd', vaultRole: 'r' }, table: 'crm.customers' },
      target: { connection: { name: 'warehouse', kind: 'postgres' as const, host: 'h', port: 5432, database: 'd', vaultRole: 'r' }, table: 'silver.customers', mode: 'append' as const, keys: [] },
      transform: { language: 'python' as const, code: transformSource(run.snapshot!.transform), sha256: run.artifactSha256! },
      limits: { timeoutMs: 1000, memoryMb: 64, maxOutputBytes: 1024 },
    };
    expect(await runs.transition(run.id, ['planning'], 'running', { chunks: 2, plan })).toMatchObject({
      status: 'running',
      chunks: 2,
      plan,
      artifactSha256: run.artifactSha256,
    });

    expect(await runs.recordChunk(run.id, 0, { rowsIn: 10, rowsOut: 9, bytesOut: 90 })).toEqual({ staged: 1, of: 2, complete: false, cpuMs: 0 });
    expect(await runs.recordChunk(run.id, 1, { rowsIn: 5, rowsOut: 5, bytesOut: 50 })).toEqual({ staged: 2, of: 2, complete: true, cpuMs: 0 });
    expect(await runs.recordChunk(run.id, 1, { rowsIn: 99, rowsOut: 99, bytesOut: 99 })).toEqual({ staged: 2, of: 2, complete: true, cpuMs: 0 });
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

describe('incremental runs and quality gates', () => {
  it('records the run options, the first window a chunk reports, the checks, and the last successful run\'s staged rows', async () => {
    const p = await gateway.pipelines.create(tenant, { ...spec(`p-${randomUUID().slice(0, 8)}`), incremental: { column: 'id' } }, 'alice', { approvalRequired: false });
    const submit = async (options?: { fullRefresh: boolean }) => {
      const { run } = await gateway.runs.create({
        tenant, pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'alice', approvalRequired: false, ctx, ...(options ? { options } : {}),
      });
      runs.push(run.id);
      return run;
    };
    const first = await submit();
    expect(first.options).toEqual({});
    expect(await orchestrator.runs.lastSucceededRows(p.id, first.createdAt)).toBeNull();

    const runs_ = orchestrator.runs;
    await runs_.transition(first.id, ['queued'], 'running', { chunks: 2 });
    const window = { column: 'id', from: null, to: '5', fullRefresh: false };
    await runs_.recordChunk(first.id, 0, { rowsIn: 3, rowsOut: 3, bytesOut: 30 }, window);
    await runs_.recordChunk(first.id, 1, { rowsIn: 2, rowsOut: 2, bytesOut: 20 }, { ...window, to: '999' }); // the first report stays
    const checks = [{ name: 'row_count', kind: 'row_count', passed: true, observed: 5, message: '5 rows staged; expected 1…∞' }];
    await runs_.transition(first.id, ['running'], 'succeeded', { rowsOut: 5, checks });
    expect(await gateway.runs.get(tenant, first.id)).toMatchObject({ watermark: window, checks });

    const second = await submit({ fullRefresh: true });
    expect(second.options).toEqual({ fullRefresh: true });
    expect((await gateway.runs.get(tenant, second.id)).options).toEqual({ fullRefresh: true });
    expect(await orchestrator.runs.lastSucceededRows(p.id, second.createdAt)).toBe(5);
    expect(await orchestrator.runs.lastSucceededRows(p.id, first.createdAt)).toBeNull(); // only runs created before
  });
});
