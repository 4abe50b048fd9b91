import { createHash, randomUUID } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import {
  CommitTask,
  LoadTask,
  NotFoundError,
  RunStatusChanged,
  envelope,
  transformSource,
  type ConnectionDescriptor,
  type EventMessage,
  type RunStatus,
} from '@aoetl/contracts';
import { createLogger } from '@aoetl/observability';
import type { ApprovalRecord, ChunkCounts, ConnectionRecord, OutboxMessage, RunPatch, RunRecord, StoredPipelineSpec } from '@aoetl/store';
import { RunMachine, type RunMachineStore } from './run-machine.js';

/** A pipeline as the API sees it: the run machine has no access to it (its store interface has no pipelines). */
interface Pipeline {
  id: string;
  version: number;
  spec: StoredPipelineSpec;
}

const sha256 = (code: string) => createHash('sha256').update(code).digest('hex');

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
  /** Pipelines as the gateway changes them; the machine never sees this map. */
  readonly pipelineRows = new Map<string, Pipeline>();
  readonly approvalRows = new Map<string, ApprovalRecord>();
  readonly connectionRows = new Map<string, ConnectionRecord>();
  readonly chunks = new Map<string, Map<number, ChunkCounts>>();
  readonly commitDispatched = new Set<string>();

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
    recordChunk: async (runId, chunk, counts, watermark) => {
      const run = this.runRows.get(runId)!;
      run.watermark ??= watermark ?? null;
      const staged = this.chunks.get(runId) ?? new Map<number, ChunkCounts>();
      this.chunks.set(runId, staged);
      if (!staged.has(chunk)) staged.set(chunk, { rowsIn: counts.rowsIn, rowsOut: counts.rowsOut, bytesOut: counts.bytesOut, cpuMs: counts.cpuMs ?? 0 });
      const of = this.runRows.get(runId)!.chunks;
      const cpuMs = [...staged.values()].reduce((n, c) => n + (c.cpuMs ?? 0), 0);
      return { staged: staged.size, of, complete: staged.size === of, cpuMs };
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
    lastSucceededRows: async (pipelineId, before) => {
      const done = [...this.runRows.values()]
        .filter((r) => r.pipelineId === pipelineId && r.status === 'succeeded' && r.createdAt < before)
        .sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''))
        .at(-1);
      if (!done) return null;
      return [...(this.chunks.get(done.id)?.values() ?? [])].reduce((n, c) => n + c.rowsOut, 0);
    },
    claimChunks: async (tenant, cap) => {
      const running = [...this.runRows.values()].filter((r) => r.tenant === tenant && r.status === 'running');
      let free = cap - running.reduce((n, r) => n + r.chunksDispatched - (this.chunks.get(r.id)?.size ?? 0), 0);
      const claimed: { run: RunRecord; chunks: number[] }[] = [];
      for (const run of running.sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
        if (free <= 0) break;
        const n = Math.min(free, run.chunks - run.chunksDispatched);
        if (n <= 0) continue;
        claimed.push({ run: { ...run, chunksDispatched: run.chunksDispatched + n }, chunks: Array.from({ length: n }, (_, i) => run.chunksDispatched + i) });
        run.chunksDispatched += n;
        free -= n;
      }
      return claimed;
    },
    sendTasks: async (messages) => void this.outbox.push(...messages),
    tenantsAwaitingDispatch: async () => [
      ...new Set([...this.runRows.values()].filter((r) => r.status === 'running' && r.chunksDispatched < r.chunks).map((r) => r.tenant)),
    ],
    inFlight: async (idleMs) =>
      [...this.runRows.values()]
        .filter((r) => ['queued', 'planning', 'running'].includes(r.status) && Date.parse(r.updatedAt) < Date.now() - idleMs)
        .map((r) => ({ ...r })),
  };

  approvals: RunMachineStore['approvals'] = {
    get: async (tenant, runId) => {
      const a = this.approvalRows.get(runId);
      if (!a || this.runRows.get(runId)?.tenant !== tenant) throw new NotFoundError('this run has no approval');
      return { ...a };
    },
  };

  connections: RunMachineStore['connections'] = {
    get: async (tenant, name) => {
      const c = this.connectionRows.get(`${tenant}/${name}`);
      if (!c) throw new NotFoundError(`connection '${name}' not found`);
      return c;
    },
  };

  addConnection(name: string): void {
    const descriptor: ConnectionDescriptor = { name, kind: 'postgres', host: 'db', port: 5432, database: name, vaultRole: `db/${name}` };
    this.connectionRows.set(`${TENANT}/${name}`, {
      ...descriptor,
      allowedSchemas: ['crm', 'silver'],
      createdBy: 'admin',
      createdAt: new Date().toISOString(),
      updatedBy: null,
      updatedAt: null,
    });
  }

  addPipeline(chunks?: number): Pipeline {
    const id = randomUUID();
    const pipeline: Pipeline = {
      id,
      version: 1,
      spec: {
        name: `p-${id}`,
        source: { connection: 'crm', table: 'crm.customers' },
        target: { connection: 'warehouse', table: 'silver.customers', mode: 'merge', keys: ['email'] },
        transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
        ...(chunks === undefined ? {} : { chunks }),
      },
    };
    this.pipelineRows.set(id, pipeline);
    return pipeline;
  }

  /** What the gateway does on PUT: a new version; runs already submitted keep theirs. */
  editPipeline(pipeline: Pipeline, spec: Partial<StoredPipelineSpec>): void {
    const current = this.pipelineRows.get(pipeline.id)!;
    this.pipelineRows.set(pipeline.id, { ...current, version: current.version + 1, spec: { ...current.spec, ...spec } });
  }

  /** A run submitted now: a snapshot of the pipeline's current version (what the gateway's submit records). */
  addRun(
    pipeline: Pipeline,
    status: RunStatus = 'queued',
    updatedAt = new Date().toISOString(),
    approvalRequired = false,
  ): RunRecord {
    const current = this.pipelineRows.get(pipeline.id)!;
    const run: RunRecord = {
      id: randomUUID(),
      pipelineId: pipeline.id,
      tenant: TENANT,
      status,
      approvalRequired,
      submittedBy: 'alice',
      cancelledBy: null,
      requestId: 'req-1',
      pipelineVersion: current.version,
      snapshot: structuredClone(current.spec),
      artifactSha256: sha256(transformSource(current.spec.transform)),
      plan: null,
      options: {},
      watermark: null,
      checks: null,
      planning: null,
      chunks: 1,
      chunksDispatched: 0,
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

  /** bob's decision on the run, bound to the snapshot he saw (by default, the run's). */
  approve(run: RunRecord, seen: { pipelineVersion: number | null; artifactSha256: string | null } = run): void {
    this.approvalRows.set(run.id, {
      runId: run.id,
      pipelineId: run.pipelineId,
      submittedBy: run.submittedBy,
      requestedAt: run.createdAt,
      state: 'approved',
      pipelineVersion: seen.pipelineVersion,
      artifactSha256: seen.artifactSha256,
      decidedBy: 'bob',
      decidedAt: new Date().toISOString(),
      comment: null,
    });
    this.runRows.get(run.id)!.status = 'queued';
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
    expect(stored).toMatchObject({ status: 'running', chunks: 3, artifactSha256: sha256(transformSource(pipeline.spec.transform)) });
    expect(stored.plan).toMatchObject({ chunks: 3, transform: { sha256: stored.artifactSha256 }, target: { table: 'silver.customers' } });
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
    store.connections.get = async () => {
      throw new Error('connection reset');
    };
    const run = store.addRun(pipeline);
    await expect(machine.onRunRequested(requested(run))).rejects.toThrow('connection reset');
    expect(store.runRows.get(run.id)!.status).toBe('planning');
  });

  it('fails a run without a snapshot (submitted before snapshots existed) instead of guessing what to run', async () => {
    const { store, pipeline, machine } = setup();
    const run = store.addRun(pipeline);
    Object.assign(store.runRows.get(run.id)!, { snapshot: null, pipelineVersion: null });
    await machine.onRunRequested(requested(run));
    expect(statuses(store.take())).toEqual(['planning', 'failed']);
    expect(store.runRows.get(run.id)!.error).toMatchObject({ code: 'snapshot_missing' });
  });

  it('fails a run whose snapshot code does not hash to its artifact', async () => {
    const { store, pipeline, machine } = setup();
    const run = store.addRun(pipeline);
    (store.runRows.get(run.id)!.snapshot!.transform as { code: string }).code = 'def transform(rows):\n    return []\n';
    await machine.onRunRequested(requested(run));
    expect(store.runRows.get(run.id)).toMatchObject({ status: 'failed', error: { code: 'snapshot_mismatch' } });
    expect(store.take().some((m) => m.type === 'task.load')).toBe(false);
  });
});

describe('RunMachine: approvals bind to the snapshot', () => {
  it('starts an approved run with exactly the approved version and artifact', async () => {
    const { store, pipeline, machine } = setup(1);
    const run = store.addRun(pipeline, 'awaiting_approval', undefined, true);
    store.approve(run);
    await machine.onRunRequested(requested(run));
    const loads = store.take().filter((m) => m.type === 'task.load');
    expect(loads.map((m) => (m.payload.transform as { sha256: string }).sha256)).toEqual([run.artifactSha256]);
    expect(store.runRows.get(run.id)!.status).toBe('running');
  });

  it('fails the run when the approval names another version or artifact than the run executes', async () => {
    const { store, pipeline, machine } = setup(1);
    const run = store.addRun(pipeline, 'awaiting_approval', undefined, true);
    store.approve(run, { pipelineVersion: 2, artifactSha256: 'f'.repeat(64) });
    await machine.onRunRequested(requested(run));
    const written = store.take();
    expect(statuses(written)).toEqual(['planning', 'failed']);
    expect(written.some((m) => m.type === 'task.load')).toBe(false);
    expect(store.runRows.get(run.id)!.error).toMatchObject({ code: 'approval_mismatch' });
  });

  it('fails a run that needs an approval and has none', async () => {
    const { store, pipeline, machine } = setup(1);
    const run = store.addRun(pipeline, 'queued', undefined, true);
    await machine.onRunRequested(requested(run));
    expect(store.runRows.get(run.id)).toMatchObject({ status: 'failed', error: { code: 'approval_missing' } });
  });

  it('runs the approved version when the pipeline was edited after the approval, before planning', async () => {
    const { store, pipeline, machine } = setup(1);
    const approvedCode = transformSource(pipeline.spec.transform);
    const run = store.addRun(pipeline, 'awaiting_approval', undefined, true);
    store.approve(run);
    store.editPipeline(pipeline, {
      transform: { kind: 'python', code: 'def transform(rows):\n    return []\n' },
      target: { connection: 'warehouse', table: 'silver.elsewhere', mode: 'replace' },
    });
    await machine.onRunRequested(requested(run));
    const [load] = store.take().filter((m) => m.type === 'task.load');
    expect(load!.payload).toMatchObject({
      transform: { code: approvedCode, sha256: sha256(approvedCode) },
      target: { table: 'silver.customers', mode: 'merge', keys: ['email'] },
    });
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

describe('RunMachine: the pipeline changes mid-run', () => {
  /** Runs a planned run to success, checking every task it sends against the snapshot it was submitted with. */
  async function finish(s: Awaited<ReturnType<typeof runningRun>>, planned: { type: string; payload: Record<string, unknown> }[]) {
    const { store, run, machine } = s;
    const chunks = store.runRows.get(run.id)!.chunks;
    for (let i = 0; i < chunks; i += 1) await machine.onEvent(loadSucceeded(run, i));
    const afterLoads = store.take();
    await machine.onEvent(commitSucceeded(run, 7));
    return { tasks: [...planned, ...afterLoads].filter((m) => m.type.startsWith('task.')), final: store.runRows.get(run.id)! };
  }

  it('pipeline edited mid-run: every chunk and the commit use the snapshot (code, artifact, target, mode)', async () => {
    const s = setup(3);
    const { store, pipeline, machine } = s;
    const snapshot = structuredClone(pipeline.spec);
    const run = store.addRun(pipeline);
    await machine.onRunRequested(requested(run));
    const planned = store.take();
    // A PUT of new code, a new target and append → replace, after planning and between chunks.
    store.editPipeline(pipeline, {
      transform: { kind: 'python', code: 'def transform(rows):\n    return []\n' },
      target: { connection: 'warehouse', table: 'silver.other', mode: 'replace' },
      chunks: 5,
    });
    const { tasks, final } = await finish({ ...s, run }, planned);

    expect(final).toMatchObject({ status: 'succeeded', pipelineVersion: 1, artifactSha256: sha256(transformSource(snapshot.transform)) });
    const loads = tasks.filter((m) => m.type === 'task.load');
    const commits = tasks.filter((m) => m.type === 'task.commit');
    expect(loads).toHaveLength(3);
    expect(commits.map((m) => m.payload.action)).toEqual(['commit']);
    for (const m of loads) {
      expect(m.payload).toMatchObject({ transform: { code: transformSource(snapshot.transform), sha256: final.artifactSha256 }, chunk: { count: 3 } });
    }
    for (const m of [...loads, ...commits]) {
      expect(m.payload.target).toMatchObject({ table: 'silver.customers', mode: 'merge', keys: ['email'] });
    }
  });

  it('pipeline deleted mid-run: the run finishes with its snapshot, and its artifact is the one that ran', async () => {
    const s = await runningRun(2);
    const { store, pipeline, run, machine } = s;
    store.pipelineRows.delete(pipeline.id);
    const { tasks, final } = await finish(s, []);
    expect(final.status).toBe('succeeded');
    expect(tasks.map((m) => [m.type, m.payload.action])).toEqual([['task.commit', 'commit']]);
    expect(final.artifactSha256).toBe(sha256(transformSource(final.snapshot!.transform)));
    expect(final.plan!.transform.sha256).toBe(final.artifactSha256);
    expect(statuses(store.take())).toEqual(['succeeded']);
    await machine.onRunRequested(requested(run)); // a redelivered request for the finished run: nothing
    expect(store.take()).toEqual([]);
  });

  it('pipeline deleted mid-run: a failed chunk aborts on the snapshot\'s target', async () => {
    const { store, pipeline, run, machine } = await runningRun(2);
    store.pipelineRows.delete(pipeline.id);
    await machine.onEvent(taskFailed(run, 'load', 0));
    const aborts = store.take().filter((m) => m.type === 'task.commit');
    expect(aborts.map((m) => [m.payload.action, (m.payload.target as { table: string }).table])).toEqual([['abort', 'silver.customers']]);
  });

  it('the reconciler redispatches chunks from the stored plan after the pipeline was edited', async () => {
    const { store, pipeline, run, machine } = await runningRun(2);
    store.editPipeline(pipeline, { transform: { kind: 'python', code: 'x = 1\n' }, chunks: 4 });
    store.runRows.get(run.id)!.updatedAt = new Date(Date.now() - 60_000).toISOString();
    await machine.reconcile(30_000, 30_000);
    const loads = store.take().filter((m) => m.type === 'task.load');
    expect(loads.map((m) => m.payload.chunk)).toEqual([{ index: 0, count: 2 }, { index: 1, count: 2 }]);
    for (const m of loads) expect((m.payload.transform as { sha256: string }).sha256).toBe(run.artifactSha256);
  });
});

describe('RunMachine: incremental runs and quality gates', () => {
  it('plans the watermark stream, the run\'s full-refresh option, the checks and the last successful run\'s rows', async () => {
    const { store, pipeline, machine } = setup(2);
    const output = [{ name: 'email', type: 'text' }];
    const checks = [{ kind: 'row_count_change' as const, maxPercent: 10 }];
    store.editPipeline(pipeline, {
      incremental: { column: 'updated_at' },
      checks,
      target: { ...pipeline.spec.target, create: true },
      transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n', output },
    });

    // A first run: no baseline. Its chunks report the window; its commit reports the checks.
    const first = store.addRun(store.pipelineRows.get(pipeline.id)!);
    await machine.onRunRequested(requested(first));
    const written = store.take();
    const load = written.find((m) => m.type === 'task.load')!;
    expect(Value.Errors(LoadTask, load).First()).toBeUndefined();
    const stream = `${pipeline.id}:crm.customers:updated_at:silver.customers`;
    expect(load.payload.incremental).toEqual({ column: 'updated_at', stream, fullRefresh: false });
    expect(load.payload.transform).toMatchObject({ output });
    expect(load.payload.target).toMatchObject({ create: true });
    const window = { column: 'updated_at', from: null, to: '2026-12-02 10:00:00+00', fullRefresh: false };
    for (const chunk of [0, 1]) {
      const ev = loadSucceeded(first, chunk, 5) as { payload: Record<string, unknown> };
      ev.payload.watermark = window;
      await machine.onEvent(ev as EventMessage);
    }
    const commit = store.take().find((m) => m.type === 'task.commit')!;
    expect(commit.payload).toMatchObject({ incremental: { stream }, checks, baselineRows: null, output });
    expect(Value.Errors(CommitTask, commit).First()).toBeUndefined();
    const results = [{ name: 'row_count_change', kind: 'row_count_change', passed: true, observed: 10, message: '10 rows staged' }];
    const done = commitSucceeded(first, 10) as { payload: Record<string, unknown> };
    done.payload.checks = results;
    await machine.onEvent(done as EventMessage);
    expect(store.runRows.get(first.id)).toMatchObject({ status: 'succeeded', watermark: window, checks: results });

    // The next run, a full refresh, compares with the 10 rows the first one staged.
    const second = { ...store.addRun(store.pipelineRows.get(pipeline.id)!), createdAt: new Date(Date.now() + 1000).toISOString() };
    second.options = { fullRefresh: true };
    store.runRows.set(second.id, second);
    await machine.onRunRequested(requested(second));
    const plan = store.runRows.get(second.id)!.plan!;
    expect(plan.incremental).toEqual({ column: 'updated_at', stream, fullRefresh: true });
    expect(plan.baselineRows).toBe(10);
  });
});

describe('RunMachine: fair dispatch (at most N chunk tasks of a tenant in flight)', () => {
  function fairSetup(chunks: number, cap: number) {
    const s = setup(chunks);
    const machine = new RunMachine(s.store, { limits: LIMITS, defaultChunks: 2, maxChunksInFlightPerTenant: cap }, createLogger({ name: 'run-machine-test', level: 'silent' }));
    return { ...s, machine };
  }
  const loads = (store: MemoryStore) => store.take().filter((m) => m.type === 'task.load').map((m) => [m.payload.runId, (m.payload.chunk as { index: number }).index]);

  it('sends the first `cap` chunks, then one more per staged chunk, oldest run first, and the commit at the end', async () => {
    const { store, pipeline, machine } = fairSetup(3, 2);
    const [a, b] = [store.addRun(pipeline), store.addRun(pipeline)];
    store.runRows.get(b.id)!.createdAt = new Date().toISOString(); // b is the younger run
    await machine.onRunRequested(requested(a));
    expect(loads(store)).toEqual([[a.id, 0], [a.id, 1]]);
    await machine.onRunRequested(requested(b));
    expect(loads(store)).toEqual([]); // the tenant's two slots are taken
    await machine.onEvent(loadSucceeded(a, 0));
    expect(loads(store)).toEqual([[a.id, 2]]);
    await machine.onEvent(loadSucceeded(a, 1));
    expect(loads(store)).toEqual([[b.id, 0]]);
    await machine.onEvent(loadSucceeded(a, 2));
    expect(store.take().map((m) => [m.type, m.payload.runId, (m.payload.chunk as { index: number } | undefined)?.index])).toEqual([
      ['task.load', b.id, 1],
      ['task.commit', a.id, undefined],
    ]);
  });

  it("a failed run frees its slots for the tenant's next run; the reconciler sends only what was dispatched", async () => {
    const { store, pipeline, machine } = fairSetup(4, 2);
    const [a, b] = [store.addRun(pipeline), store.addRun(pipeline)];
    store.runRows.get(b.id)!.createdAt = new Date().toISOString();
    await machine.onRunRequested(requested(a));
    await machine.onRunRequested(requested(b));
    store.take();
    await machine.onEvent(envelope('task.failed', { taskId: randomUUID(), runId: a.id, agentId: 'a', step: 'load', chunk: 0, error: { code: 'transform' as const, message: 'boom' } }, ctx));
    expect(loads(store)).toEqual([[b.id, 0], [b.id, 1]]);
    store.runRows.get(b.id)!.updatedAt = new Date(Date.now() - 60_000).toISOString();
    await machine.reconcile(30_000, 30_000);
    expect(loads(store)).toEqual([[b.id, 0], [b.id, 1]]); // chunks 2 and 3 wait for a free slot
  });
});

describe('RunMachine: per-run CPU budget', () => {
  const withCpu = (run: RunRecord, chunk: number, cpuMs: number): EventMessage =>
    envelope('task.succeeded', { taskId: randomUUID(), runId: run.id, agentId: 'a1', step: 'load' as const, chunk, rowsIn: 1, rowsOut: 1, bytesIn: 1, bytesOut: 1, durationMs: 5, cpuMs }, ctx);

  it('fails the run with cpu_budget_exceeded once its chunks used more sandbox CPU than the budget, and aborts what was staged', async () => {
    const s = setup(3);
    const machine = new RunMachine(s.store, { limits: LIMITS, defaultChunks: 2, cpuBudgetMs: 1000 }, createLogger({ name: 'run-machine-test', level: 'silent' }));
    const run = s.store.addRun(s.pipeline);
    await machine.onRunRequested(requested(run));
    s.store.take();
    await machine.onEvent(withCpu(run, 0, 600));
    expect(s.store.runRows.get(run.id)!.status).toBe('running');
    await machine.onEvent(withCpu(run, 1, 600));
    expect(s.store.runRows.get(run.id)!).toMatchObject({ status: 'failed', error: { code: 'cpu_budget_exceeded' } });
    expect(s.store.runRows.get(run.id)!.error!.message).toMatch(/1\.2 s .* budget of 1\.0 s/);
    expect(s.store.take().map((m) => [m.type, m.payload.action ?? m.payload.status])).toEqual([
      ['run.status', 'failed'],
      ['task.commit', 'abort'],
    ]);
    // A late chunk of the failed run changes nothing.
    await machine.onEvent(withCpu(run, 2, 10));
    expect(s.store.take()).toEqual([]);
  });

  it('a run within its budget succeeds', async () => {
    const s = setup(2);
    const machine = new RunMachine(s.store, { limits: LIMITS, defaultChunks: 2, cpuBudgetMs: 1000 }, createLogger({ name: 'run-machine-test', level: 'silent' }));
    const run = s.store.addRun(s.pipeline);
    await machine.onRunRequested(requested(run));
    await machine.onEvent(withCpu(run, 0, 500));
    await machine.onEvent(withCpu(run, 1, 500));
    await machine.onEvent(commitSucceeded(run, 2));
    expect(s.store.runRows.get(run.id)!.status).toBe('succeeded');
  });
});

describe('RunMachine: fair dispatch after a crash', () => {
  it('the reconciler sends waiting chunks of a tenant with free slots at once, not only after the idle threshold', async () => {
    const s = setup(3);
    const machine = new RunMachine(s.store, { limits: LIMITS, defaultChunks: 2, maxChunksInFlightPerTenant: 2 }, createLogger({ name: 'run-machine-test', level: 'silent' }));
    const run = s.store.addRun(s.pipeline);
    await machine.onRunRequested(requested(run));
    s.store.take();
    // Chunk 0 is staged but the orchestrator died before it sent chunk 2 (the store knows the chunk, the stream does not).
    await s.store.runs.recordChunk(run.id, 0, { rowsIn: 1, rowsOut: 1, bytesOut: 1 });
    await machine.reconcile(30_000, 30_000);
    expect(s.store.take().map((m) => [m.type, (m.payload.chunk as { index: number }).index])).toEqual([['task.load', 2]]);
  });

  it('a redelivered request of a running run sends what the cap allows', async () => {
    const s = setup(3);
    const machine = new RunMachine(s.store, { limits: LIMITS, defaultChunks: 2, maxChunksInFlightPerTenant: 2 }, createLogger({ name: 'run-machine-test', level: 'silent' }));
    const run = s.store.addRun(s.pipeline);
    await machine.onRunRequested(requested(run));
    s.store.take();
    await s.store.runs.recordChunk(run.id, 1, { rowsIn: 1, rowsOut: 1, bytesOut: 1 });
    await machine.onRunRequested(requested(run));
    expect(s.store.take().map((m) => (m.payload.chunk as { index: number }).index)).toEqual([2]);
  });
});
