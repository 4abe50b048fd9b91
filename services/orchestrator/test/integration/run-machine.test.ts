/**
 * The run machine (`@aoetl/runs`) over the real control database, through the orchestrator's database role, with
 * the gateway's store writing what the gateway writes: a run approved, then its pipeline changed and deleted, is
 * planned from its snapshot, its plan is stored on the run (jsonb round trip), and every task goes out with the
 * approved code and target. The machine is driven by hand (no bus): outbox rows carry producers no service relays,
 * runs live in a tenant of their own and end final, so the running orchestrator never picks them up.
 */
import { createHash, randomUUID } from 'node:crypto';
import { envelope } from '@aoetl/contracts';
import { createLogger } from '@aoetl/observability';
import { RunMachine } from '@aoetl/runs';
import { Store, createPool, type StoredPipelineSpec } from '@aoetl/store';
import { stackEnv } from '@aoetl/testing';

function storeAs(service: 'agent-gateway' | 'orchestrator', producer: string): Store {
  const env = stackEnv(service);
  const pool = createPool({ url: env.AOETL_DATABASE_URL!, password: env.AOETL_DATABASE_PASSWORD!, max: 2, applicationName: 'orchestrator-test' });
  return new Store(pool, producer);
}

const suffix = randomUUID().slice(0, 8);
const tenant = `orch-test-${suffix}`;
const gateway = storeAs('agent-gateway', `orch-test-gateway-${suffix}`);
const orchestrator = storeAs('orchestrator', `orch-test-orchestrator-${suffix}`);
const machine = new RunMachine(
  orchestrator,
  { limits: { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 }, defaultChunks: 3 },
  createLogger({ name: 'orchestrator-test', level: 'silent' }),
);
const ctx = { requestId: `orch-test-${suffix}` };
const runs: string[] = [];
const sha256 = (code: string) => createHash('sha256').update(code, 'utf8').digest('hex');

const CODE_V1 = 'def transform(rows):\n    return rows\n';
const CODE_V2 = 'def transform(rows):\n    return []\n';
const spec = (name: string, code: string, table: string, mode: 'append' | 'replace'): StoredPipelineSpec & { approval: { required: boolean } } => ({
  name,
  source: { connection: 'crm', table: 'crm.customers' },
  target: { connection: 'warehouse', table, mode },
  transform: { kind: 'python', code },
  chunks: 2,
  approval: { required: true },
});

/** The orchestrator's messages written since the last call (marked published). */
async function sent(): Promise<{ type: string; payload: any }[]> {
  const out: { type: string; payload: any }[] = [];
  await orchestrator.outbox.relay(async (_stream, message) => {
    out.push(message as { type: string; payload: any });
  });
  return out;
}

beforeAll(async () => {
  for (const name of ['crm', 'warehouse']) {
    await gateway.connections.put(tenant, { name, kind: 'postgres', host: '127.0.0.1', port: 5433, database: name, vaultRole: `database/creds/${name}`, allowedSchemas: ['crm', 'silver'] }, 'admin');
  }
});

afterAll(async () => {
  try {
    for (const id of runs) {
      await orchestrator.runs.transition(id, ['queued', 'planning', 'running'], 'failed', { error: { code: 'aborted', message: 'test cleanup' } });
    }
    await sent();
    await gateway.outbox.relay(async () => undefined);
  } finally {
    await gateway.close();
    await orchestrator.close();
  }
});

describe('the run machine over the real control database', () => {
  it('executes the approved snapshot after the pipeline is changed (append → replace, new code, new table) and deleted', async () => {
    const name = `p-${suffix}`;
    const p = await gateway.pipelines.create(tenant, spec(name, CODE_V1, 'silver.approved', 'append'), 'alice', { approvalRequired: true });
    const { run } = await gateway.runs.create({ tenant, pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'alice', approvalRequired: true, ctx });
    runs.push(run.id);
    await gateway.approvals.decide({ tenant, runId: run.id, decidedBy: 'bob', decision: 'approved', ctx });
    await gateway.pipelines.update(tenant, p.id, spec(name, CODE_V2, 'silver.elsewhere', 'replace'), 'alice', { expectedVersion: 1, approvalRequired: true });

    await machine.onRunRequested(envelope('run.requested', { runId: run.id, tenant }, ctx));
    const planned = await orchestrator.runs.getById(run.id);
    expect(planned).toMatchObject({ status: 'running', chunks: 2, pipelineVersion: 1, artifactSha256: sha256(CODE_V1) });
    expect(planned.plan).toMatchObject({
      chunks: 2,
      transform: { code: CODE_V1, sha256: sha256(CODE_V1) },
      target: { table: 'silver.approved', mode: 'append', connection: { name: 'warehouse', vaultRole: 'database/creds/warehouse' } },
    });
    const loads = (await sent()).filter((m) => m.type === 'task.load');
    expect(loads.map((m) => [m.payload.chunk.index, m.payload.transform.sha256, m.payload.target.table, m.payload.target.mode])).toEqual([
      [0, sha256(CODE_V1), 'silver.approved', 'append'],
      [1, sha256(CODE_V1), 'silver.approved', 'append'],
    ]);

    await gateway.pipelines.delete(tenant, p.id, 'alice');
    const result = (chunk: number, step: 'load' | 'commit') =>
      envelope('task.succeeded', { taskId: randomUUID(), runId: run.id, agentId: 'a1', step, chunk, rowsIn: 5, rowsOut: 5, bytesIn: 50, bytesOut: 50, durationMs: 1 }, ctx);
    await machine.onEvent(result(0, 'load'));
    await machine.onEvent(result(1, 'load'));
    const commits = (await sent()).filter((m) => m.type === 'task.commit');
    expect(commits.map((m) => [m.payload.action, m.payload.target.table, m.payload.target.mode, m.payload.chunks])).toEqual([
      ['commit', 'silver.approved', 'append', 2],
    ]);
    await machine.onEvent(result(-1, 'commit'));
    expect(await orchestrator.runs.getById(run.id)).toMatchObject({ status: 'succeeded', rowsOut: 5, artifactSha256: sha256(CODE_V1) });
  });

  it('fails, without dispatching anything, a run whose approval was never given', async () => {
    const p = await gateway.pipelines.create(tenant, spec(`q-${suffix}`, CODE_V1, 'silver.x', 'append'), 'alice', { approvalRequired: true });
    const { run } = await gateway.runs.create({ tenant, pipelineId: p.id, pipelineVersion: 1, submittedBy: 'alice', approvalRequired: true, ctx });
    runs.push(run.id);
    // As if the run had been queued around the approval (it cannot through the API): the machine still refuses it.
    await orchestrator.runs.transition(run.id, ['awaiting_approval'], 'queued');
    await machine.onRunRequested(envelope('run.requested', { runId: run.id, tenant }, ctx));
    expect(await orchestrator.runs.getById(run.id)).toMatchObject({ status: 'failed', error: { code: 'approval_missing' } });
    expect((await sent()).filter((m) => m.type.startsWith('task.'))).toEqual([]);
  });
});
