import { createHash, randomUUID } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import {
  CommitTask,
  LoadTask,
  NotFoundError,
  RunStatusChanged,
  envelope,
  type ConnectionDescriptor,
  type EventMessage,
  type RunStatus,
} from '@aoetl/contracts';
import { createLogger } from '@aoetl/observability';
import type { ChunkCounts, ConnectionRecord, OutboxMessage, PipelineRecord, RunPatch, RunRecord } from '@aoetl/store';
import { RunMachine, type RunMachineStore } from './run-machine.js';

const TENANT = 'acme';
const LIMITS = { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 };
const ctx = { requestId: 'req-1' };

/**
 * The control database in memory, as the run machine sees it: transitions only move runs out of the statuses
 * they name, every status change appends its messages to the outbox, the commit is dispatched once.
 */
class MemoryStore implements RunMachineStore {
  readonly outbox: OutboxMessage[] = [];
  readonly runRows = new Map<string, RunRecord>();
  readonly pipelineRows = new Map<string, PipelineRecord>();
  readonly connectionRows = new Map<string, ConnectionRecord>();
  readonly chunks = new Map<string, Map<number, ChunkCounts>>();
  readonly commitDispatched = new Set<string>();
  readonly artifactRows = new Map<string, { sha256: string; version: number }[]>();

  runs: RunMachineStore['runs'] = {
    getById: async (id) => {
      const run = this.runRows.get(id);
      if (!run) throw new NotFoundError('run not found');
      return { ...run };
    },
    transition: async (runId, from, to, patch: RunPatch = {}, messages: readonly OutboxMessage[] = []) => {
      const run = this.runRows.get(runId);
      if (!run || !from.includes(run.status)) return null;
      const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
      Object.assign(run, defined, { status: to, updatedAt: new Date().toISOString() });
      this.outbox.push(...messages);
      return { ...run };
    },
    recordChunk: async (runId, chunk, counts) => {
      const staged = this.chunks.get(runId) ?? new Map<number, ChunkCounts>();
      this.chunks.set(runId, staged);
      if (!staged.has(chunk)) staged.set(chunk, { rowsIn: counts.rowsIn, rowsOut: counts.rowsOut, bytesOut: counts.bytesOut });
      const of = this.runRows.get(runId)!.chunks;
      return { staged: staged.size, of, complete: staged.size === of };
    },
    dispatchCommit: async (runId, messages) => {
      if (this.commitDispatched.has(runId)) return false;
      this.commitDispatched.add(runId);
      this.outbox.push(...messages);
      return true;
    },
    chunkTotals: async (runId) => {
      const totals = { rowsIn: 0, rowsOut: 0, bytesOut: 0 };
      for (const c of this.chunks.get(runId)?.values() ?? []) {
        totals.rowsIn += c.rowsIn;
        totals.rowsOut += c.rowsOut;
        totals.bytesOut += c.bytesOut;
      }
      return totals;
    },
    stagedChunks: async (runId) => [...(this.chunks.get(runId)?.keys() ?? [])],
    inFlight: async (idleMs) =>
      [...this.runRows.values()]
        .filter((r) => ['queued', 'planning', 'running'].includes(r.status) && Date.parse(r.updatedAt) < Date.now() - idleMs)
        .map((r) => ({ ...r })),
  };

  pipelines: RunMachineStore['pipelines'] = {
    get: async (tenant, id) => {
      const p = this.pipelineRows.get(id);
      if (!p || p.tenant !== tenant) throw new NotFoundError('pipeline not found');
      return p;
    },
  };

  connections: RunMachineStore['connections'] = {
    get: async (tenant, name) => {
      const c = this.connectionRows.get(`${tenant}/${name}`);
      if (!c) throw new NotFoundError(`connection '${name}' not found`);
      return c;
    },
  };

  artifacts: RunMachineStore['artifacts'] = {
    store: async (pipelineId, _language, code) => {
      const sha256 = createHash('sha256').update(code).digest('hex');
      const versions = this.artifactRows.get(pipelineId) ?? [];
      this.artifactRows.set(pipelineId, versions);
      const found = versions.find((v) => v.sha256 === sha256);
      if (found) return found;
      const stored = { sha256, version: versions.length + 1 };
      versions.push(stored);
      return stored;
    },
  };

  addConnection(name: string): void {
    const descriptor: ConnectionDescriptor = { name, kind: 'postgres', host: 'db', port: 5432, database: name, vaultRole: `db/${name}` };
    this.connectionRows.set(`${TENANT}/${name}`, {
      ...descriptor,
      createdBy: 'admin',
      createdAt: new Date().toISOString(),
      updatedBy: null,
      updatedAt: null,
    });
  }

  addPipeline(chunks?: number): PipelineRecord {
    const id = randomUUID();
    const pipeline: PipelineRecord = {
      id,
      tenant: TENANT,
      name: `p-${id}`,
      spec: {
        name: `p-${id}`,
        source: { connection: 'crm', table: 'crm.customers' },
        target: { connection: 'warehouse', table: 'silver.customers', mode: 'merge', keys: ['email'] },
        transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
        ...(chunks === undefined ? {} : { chunks }),
      },
      version: 1,
      createdBy: 'alice',
      createdAt: new Date().toISOString(),
      updatedBy: null,
      updatedAt: null,
    };
    this.pipelineRows.set(id, pipeline);
    return pipeline;
  }

  addRun(pipeline: PipelineRecord, status: RunStatus = 'queued', updatedAt = new Date().toISOString()): RunRecord {
    const run: RunRecord = {
      id: randomUUID(),
      pipelineId: pipeline.id,
      tenant: TENANT,
      status,
      approvalRequired: false,
      submittedBy: 'alice',
      cancelledBy: null,
      requestId: 'req-1',
      artifactSha256: null,
      chunks: 1,
      rowsIn: null,
      rowsOut: null,
      bytesOut: null,
      error: null,
      createdAt: new Date(Date.now() - 1000).toISOString(),
      updatedAt,
      startedAt: null,
      finishedAt: null,
    };
    this.runRows.set(run.id, run);
    return run;
  }

  /** The messages written since the last call. */
  take(): { type: string; payload: Record<string, unknown> }[] {
    return this.outbox.splice(0).map((m) => m.message as unknown as { type: string; payload: Record<string, unknown> });
  }
}

function setup(chunks?: number) {
  const store = new MemoryStore();
  store.addConnection('crm');
  store.addConnection('warehouse');
  const pipeline = store.addPipeline(chunks);
  const machine = new RunMachine(store, { limits: LIMITS, defaultChunks: 2 }, createLogger({ name: 'run-machine-test', level: 'silent' }));
  return { store, pipeline, machine };
}

const requested = (run: RunRecord) => envelope('run.requested', { runId: run.id, tenant: run.tenant }, ctx);

function loadSucceeded(run: RunRecord, chunk: number, rows = 10): EventMessage {
  return envelope(
    'task.succeeded',
    { taskId: randomUUID(), runId: run.id, agentId: 'a1', step: 'load' as const, chunk, rowsIn: rows, rowsOut: rows, bytesIn: 100, bytesOut: rows * 10, durationMs: 5 },
    ctx,
  );
}

function commitSucceeded(run: RunRecord, rowsOut: number): EventMessage {
  return envelope(
    'task.succeeded',
    { taskId: randomUUID(), runId: run.id, agentId: 'a1', step: 'commit' as const, chunk: -1, rowsIn: 0, rowsOut, bytesIn: 0, bytesOut: 0, durationMs: 5 },
    ctx,
  );
}

function taskFailed(run: RunRecord, step: 'load' | 'commit' | 'abort', chunk: number): EventMessage {
  return envelope(
    'task.failed',
    { taskId: randomUUID(), runId: run.id, agentId: 'a1', step, chunk, error: { code: 'transform' as const, message: 'boom' } },
    ctx,
  );
}

const statuses = (msgs: { type: string; payload: Record<string, unknown> }[]) =>
  msgs.filter((m) => m.type === 'run.status').map((m) => m.payload.status);

/** A run already planned and running with `chunks` chunks (its load tasks taken from the outbox). */
async function runningRun(chunks: number) {
  const s = setup(chunks);
  const run = s.store.addRun(s.pipeline);
  await s.machine.onRunRequested(requested(run));
  s.store.take();
  return { ...s, run };
}

describe('RunMachine: planning', () => {
  it('moves a queued run through planning to running and dispatches one valid load task per chunk', async () => {
    const { store, pipeline, machine } = setup(3);
    const run = store.addRun(pipeline);

    await machine.onRunRequested(requested(run));

    const written = store.take();
    expect(statuses(written)).toEqual(['planning', 'running']);
    const loads = written.filter((m) => m.type === 'task.load');
    expect(loads.map((m) => (m.payload.chunk as { index: number }).index)).toEqual([0, 1, 2]);
    for (const m of loads) expect(Value.Errors(LoadTask, m).First()).toBeUndefined(); // descriptors only, no record fields
    for (const m of written.filter((w) => w.type === 'run.status')) expect(Value.Check(RunStatusChanged, m)).toBe(true);
    const stored = store.runRows.get(run.id)!;
    expect(stored).toMatchObject({ status: 'running', chunks: 3, artifactSha256: store.artifactRows.get(pipeline.id)![0]!.sha256 });
    expect(new Set(loads.map((m) => (m.payload.transform as { sha256: string }).sha256))).toEqual(new Set([stored.artifactSha256]));
  });

  it('uses the default chunk count when the pipeline names none', async () => {
    const { store, pipeline, machine } = setup();
    const run = store.addRun(pipeline);
    await machine.onRunRequested(requested(run));
    expect(store.take().filter((m) => m.type === 'task.load')).toHaveLength(2);
    expect(store.runRows.get(run.id)!.chunks).toBe(2);
  });

  it('does nothing on a redelivered request for a run already planned', async () => {
    const { store, run, machine } = await runningRun(2);
    await machine.onRunRequested(requested(run));
    expect(store.take()).toEqual([]);
    expect(store.runRows.get(run.id)!.status).toBe('running');
  });

  it('leaves a cancelled run alone', async () => {
    const { store, pipeline, machine } = setup();
    const run = store.addRun(pipeline, 'cancelled');
    await machine.onRunRequested(requested(run));
    expect(store.take()).toEqual([]);
    expect(store.runRows.get(run.id)!.status).toBe('cancelled');
  });

  it('drops a request for an unknown run without writing anything', async () => {
    const { store, pipeline, machine } = setup();
    const ghost = { ...store.addRun(pipeline), id: randomUUID() };
    await machine.onRunRequested(requested(ghost));
    expect(store.take()).toEqual([]);
  });

  it('fails the run, without an abort, when its plan names an unknown connection', async () => {
    const { store, pipeline, machine } = setup();
    store.connectionRows.delete(`${TENANT}/warehouse`);
    const run = store.addRun(pipeline);

    await machine.onRunRequested(requested(run));

    const written = store.take();
    expect(statuses(written)).toEqual(['planning', 'failed']);
    expect(written.some((m) => m.type === 'task.load' || m.type === 'task.commit')).toBe(false);
    expect(store.runRows.get(run.id)).toMatchObject({ status: 'failed', error: { code: 'not_found', message: "connection 'warehouse' not found" } });
  });

  it('lets infrastructure errors escape, so the message is retried, and leaves the run in planning', async () => {
    const { store, pipeline, machine } = setup();
    store.artifacts.store = async () => {
      throw new Error('connection reset');
    };
    const run = store.addRun(pipeline);
    await expect(machine.onRunRequested(requested(run))).rejects.toThrow('connection reset');
    expect(store.runRows.get(run.id)!.status).toBe('planning');
  });
});

describe('RunMachine: chunks and commit', () => {
  it('dispatches the commit once, when the last chunk is staged, however often results are redelivered', async () => {
    const { store, run, machine } = await runningRun(2);

    await machine.onEvent(loadSucceeded(run, 0));
    expect(store.take()).toEqual([]);
    await machine.onEvent(loadSucceeded(run, 0)); // redelivered: still one chunk staged
    expect(store.take()).toEqual([]);

    await machine.onEvent(loadSucceeded(run, 1));
    const written = store.take();
    expect(written).toHaveLength(1);
    expect(Value.Check(CommitTask, written[0])).toBe(true);
    expect(written[0]!.payload).toMatchObject({ runId: run.id, action: 'commit', chunks: 2 });

    await machine.onEvent(loadSucceeded(run, 1)); // the last result redelivered
    expect(store.take()).toEqual([]);
    expect(store.runRows.get(run.id)!.status).toBe('running');
  });

  it('marks the run succeeded with the staged totals when the commit succeeds, once', async () => {
    const { store, run, machine } = await runningRun(2);
    await machine.onEvent(loadSucceeded(run, 0, 10));
    await machine.onEvent(loadSucceeded(run, 1, 5));
    store.take();

    await machine.onEvent(commitSucceeded(run, 12));

    expect(statuses(store.take())).toEqual(['succeeded']);
    expect(store.runRows.get(run.id)).toMatchObject({ status: 'succeeded', rowsIn: 15, rowsOut: 12, bytesOut: 150 });
    await machine.onEvent(commitSucceeded(run, 12));
    expect(store.take()).toEqual([]);
  });

  it('ignores results for a run that is not running', async () => {
    const { store, pipeline, machine } = setup();
    const run = store.addRun(pipeline, 'succeeded');
    await machine.onEvent(loadSucceeded(run, 0));
    await machine.onEvent(taskFailed(run, 'load', 0));
    expect(store.take()).toEqual([]);
    expect(store.chunks.size).toBe(0);
  });
});

describe('RunMachine: failure', () => {
  it('fails a running run on a failed task and dispatches an abort, once', async () => {
    const { store, run, machine } = await runningRun(2);
    await machine.onEvent(loadSucceeded(run, 0));

    await machine.onEvent(taskFailed(run, 'load', 1));

    const written = store.take();
    expect(statuses(written)).toEqual(['failed']);
    const aborts = written.filter((m) => m.type === 'task.commit');
    expect(aborts).toHaveLength(1);
    expect(Value.Check(CommitTask, aborts[0])).toBe(true);
    expect(aborts[0]!.payload).toMatchObject({ action: 'abort', chunks: 2 });
    expect(store.runRows.get(run.id)).toMatchObject({ status: 'failed', error: { code: 'transform', message: 'boom' } });

    await machine.onEvent(taskFailed(run, 'load', 1)); // redelivered
    expect(store.take()).toEqual([]);
  });

  it('does not fail the run again when its abort task fails', async () => {
    const { store, run, machine } = await runningRun(1);
    await machine.onEvent(taskFailed(run, 'load', 0));
    store.take();
    await machine.onEvent(taskFailed(run, 'abort', -2));
    expect(store.take()).toEqual([]);
  });

  it('fails the run a dead-lettered message names, with an abort when it was running', async () => {
    const { store, run, machine } = await runningRun(1);
    await machine.onDeadLetter(JSON.stringify({ payload: { runId: run.id } }), 'schema violation');
    const written = store.take();
    expect(statuses(written)).toEqual(['failed']);
    expect(written.filter((m) => m.type === 'task.commit').map((m) => m.payload.action)).toEqual(['abort']);
    expect(store.runRows.get(run.id)!.error).toMatchObject({ code: 'poison_message' });
  });

  it('ignores a dead-lettered message that names no run', async () => {
    const { store, machine } = await runningRun(1);
    await machine.onDeadLetter('not json', 'unparseable');
    expect(store.take()).toEqual([]);
  });
});

describe('RunMachine: reconcile', () => {
  const longAgo = () => new Date(Date.now() - 60_000).toISOString();

  it('redispatches only the missing chunks of an idle running run', async () => {
    const { store, run, machine } = await runningRun(3);
    await machine.onEvent(loadSucceeded(run, 1));
    store.runRows.get(run.id)!.updatedAt = longAgo();

    expect(await machine.reconcile(30_000, 30_000)).toBe(1);

    const loads = store.take().filter((m) => m.type === 'task.load');
    expect(loads.map((m) => (m.payload.chunk as { index: number }).index)).toEqual([0, 2]);
  });

  it('redispatches the commit of an idle run whose chunks are all staged', async () => {
    const { store, run, machine } = await runningRun(1);
    await machine.onEvent(loadSucceeded(run, 0));
    store.take();
    store.runRows.get(run.id)!.updatedAt = longAgo();

    await machine.reconcile(30_000, 30_000);

    expect(store.take().map((m) => [m.type, m.payload.action])).toEqual([['task.commit', 'commit']]);
  });

  it('plans an idle queued run, and leaves runs alone that changed recently', async () => {
    const { store, pipeline, machine } = setup(1);
    const idle = store.addRun(pipeline, 'queued', longAgo());
    const fresh = store.addRun(pipeline, 'queued');

    expect(await machine.reconcile(30_000, 30_000)).toBe(1);

    expect(store.runRows.get(idle.id)!.status).toBe('running');
    expect(store.runRows.get(fresh.id)!.status).toBe('queued');
  });
});
