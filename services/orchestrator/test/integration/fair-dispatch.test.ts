/**
 * Fair dispatch across tenants (issue 13, finding 5) over the real control database, through the orchestrator's
 * database role: a tenant that queued many multi-chunk runs does not stand in front of another tenant. Before fair
 * dispatch every chunk of a planned run went to the tasks stream at once, so tenant B's first task sat behind all of
 * tenant A's. The machine is driven by hand (no bus), in tenants of their own; every run ends final.
 */
import { randomUUID } from 'node:crypto';
import { envelope } from '@aoetl/contracts';
import { createLogger } from '@aoetl/observability';
import { RunMachine } from '@aoetl/runs';
import { Store, createPool } from '@aoetl/store';
import { stackEnv } from '@aoetl/testing';

jest.setTimeout(120_000);

function storeAs(service: 'agent-gateway' | 'orchestrator', producer: string): Store {
  const env = stackEnv(service);
  const pool = createPool({ url: env.AOETL_DATABASE_URL!, password: env.AOETL_DATABASE_PASSWORD!, max: 2, applicationName: 'fair-dispatch-test' });
  return new Store(pool, producer);
}

const suffix = randomUUID().slice(0, 8);
const [tenantA, tenantB] = [`fair-a-${suffix}`, `fair-b-${suffix}`];
const gateway = storeAs('agent-gateway', `fair-gateway-${suffix}`);
const orchestrator = storeAs('orchestrator', `fair-orchestrator-${suffix}`);
const CAP = 4;
const machine = new RunMachine(
  orchestrator,
  { limits: { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 }, defaultChunks: 4, maxChunksInFlightPerTenant: CAP },
  createLogger({ name: 'fair-dispatch-test', level: 'silent' }),
);
const ctx = { requestId: `fair-${suffix}` };
const runs: string[] = [];

interface Task { type: string; payload: { runId: string; tenant: string; chunk?: { index: number } } }
/** The orchestrator's messages written since the last call, in outbox order: the order of the tasks stream. */
async function sent(): Promise<Task[]> {
  const out: Task[] = [];
  for (let before = -1; before !== out.length; ) {
    before = out.length;
    await orchestrator.outbox.relay(async (_stream, message) => void out.push(message as Task));
  }
  return out.filter((m) => m.type === 'task.load');
}

async function submit(tenant: string, chunks: number): Promise<string> {
  const p = await gateway.pipelines.create(tenant, {
    name: `fair-${randomUUID().slice(0, 8)}`,
    source: { connection: 'crm', table: 'crm.customers' },
    target: { connection: 'warehouse', table: 'silver.fair', mode: 'append' },
    transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
    chunks,
  } as never, 'alice', { approvalRequired: false });
  const { run } = await gateway.runs.create({ tenant, pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'alice', approvalRequired: false, ctx });
  runs.push(run.id);
  await machine.onRunRequested(envelope('run.requested', { runId: run.id, tenant }, ctx));
  return run.id;
}

const staged = (runId: string, chunk: number) =>
  envelope('task.succeeded', { taskId: randomUUID(), runId, agentId: 'a1', step: 'load' as const, chunk, rowsIn: 1, rowsOut: 1, bytesIn: 1, bytesOut: 1, durationMs: 1 }, ctx);

beforeAll(async () => {
  for (const tenant of [tenantA, tenantB]) {
    for (const name of ['crm', 'warehouse']) {
      await gateway.connections.put(tenant, { name, kind: 'postgres', host: '127.0.0.1', port: 5433, database: name, vaultRole: `database/creds/${tenant}-${name}`, allowedSchemas: ['crm', 'silver'] }, 'admin');
    }
  }
});

afterAll(async () => {
  try {
    for (const id of runs) {
      await orchestrator.runs.transition(id, ['queued', 'planning', 'running'], 'failed', { error: { code: 'aborted', message: 'test cleanup' } });
    }
    await orchestrator.outbox.relay(async () => undefined);
    await gateway.outbox.relay(async () => undefined);
  } finally {
    await gateway.close();
    await orchestrator.close();
  }
});

describe('fair dispatch across tenants', () => {
  it("tenant A's 12 queued runs of 8 chunks do not delay tenant B's run; A's runs go on as chunks finish", async () => {
    const aRuns: string[] = [];
    for (let i = 0; i < 12; i += 1) aRuns.push(await submit(tenantA, 8));
    const bRun = await submit(tenantB, 4);

    const stream = await sent();
    const firstB = stream.findIndex((m) => m.payload.tenant === tenantB);
    // Without fair dispatch: 96 of A's tasks ahead of B's first. With it: at most the cap.
    expect(firstB).toBeGreaterThanOrEqual(0);
    expect(firstB).toBeLessThanOrEqual(CAP);
    expect(stream.filter((m) => m.payload.tenant === tenantA)).toHaveLength(CAP);
    expect(stream.filter((m) => m.payload.tenant === tenantB).map((m) => m.payload.chunk!.index)).toEqual([0, 1, 2, 3]);
    // A's oldest run first.
    expect(stream.filter((m) => m.payload.tenant === tenantA).map((m) => [m.payload.runId, m.payload.chunk!.index])).toEqual(
      [0, 1, 2, 3].map((i) => [aRuns[0], i]),
    );

    // Each staged chunk of A frees one slot: exactly one more of A's chunks goes out, still from the oldest run.
    await machine.onEvent(staged(aRuns[0]!, 0));
    expect((await sent()).map((m) => [m.payload.runId, m.payload.chunk!.index])).toEqual([[aRuns[0], 4]]);
    // B's results do not hand A more than its cap.
    await machine.onEvent(staged(bRun, 0));
    expect(await sent()).toEqual([]);
    const a = await orchestrator.runs.getById(aRuns[0]!);
    expect(a).toMatchObject({ status: 'running', chunks: 8, chunksDispatched: 5 });
    expect(await orchestrator.runs.getById(aRuns[11]!)).toMatchObject({ status: 'running', chunksDispatched: 0 });
  });
});

describe('per-run CPU budget over the real control database', () => {
  it('sums the CPU time of staged chunks (run_chunks.cpu_ms) and fails the run past its budget, with an abort', async () => {
    const budgeted = new RunMachine(
      orchestrator,
      { limits: { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 }, defaultChunks: 4, maxChunksInFlightPerTenant: CAP, cpuBudgetMs: 1000 },
      createLogger({ name: 'fair-dispatch-test', level: 'silent' }),
    );
    const p = await gateway.pipelines.create(tenantB, {
      name: `cpu-${randomUUID().slice(0, 8)}`,
      source: { connection: 'crm', table: 'crm.customers' },
      target: { connection: 'warehouse', table: 'silver.fair', mode: 'append' },
      transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
      chunks: 3,
    } as never, 'alice', { approvalRequired: false });
    const { run } = await gateway.runs.create({ tenant: tenantB, pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'alice', approvalRequired: false, ctx });
    runs.push(run.id);
    await budgeted.onRunRequested(envelope('run.requested', { runId: run.id, tenant: tenantB }, ctx));
    await sent();
    const withCpu = (chunk: number, cpuMs: number) =>
      envelope('task.succeeded', { taskId: randomUUID(), runId: run.id, agentId: 'a1', step: 'load' as const, chunk, rowsIn: 1, rowsOut: 1, bytesIn: 1, bytesOut: 1, durationMs: 1, cpuMs }, ctx);
    await budgeted.onEvent(withCpu(0, 700));
    expect(await orchestrator.runs.getById(run.id)).toMatchObject({ status: 'running' });
    await budgeted.onEvent(withCpu(1, 700));
    expect(await orchestrator.runs.getById(run.id)).toMatchObject({ status: 'failed', error: { code: 'cpu_budget_exceeded' } });
    const out: Array<{ type: string; payload: { runId: string; action?: string } }> = [];
    await orchestrator.outbox.relay(async (_s, m) => void out.push(m as never));
    expect(out.filter((m) => m.payload.runId === run.id && m.type === 'task.commit').map((m) => m.payload.action)).toEqual(['abort']);
  });
});
