import { randomUUID } from 'node:crypto';
import {
  InputError,
  NotFoundError,
  STREAMS,
  envelope,
  type CommitTask,
  type EventMessage,
  type FailureReason,
  type LoadTask,
  type MessageContext,
  type RunRequested,
  type TaskLimits,
  runIdIn,
} from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import {
  descriptorOf,
  type Artifacts,
  type Connections,
  type OutboxMessage,
  type PipelineRecord,
  type Pipelines,
  type RunRecord,
  type Runs,
} from '@aoetl/store';

/** What the run machine needs from the control database: the orchestrator passes its Store, unit tests a fake. */
export interface RunMachineStore {
  runs: Pick<Runs, 'getById' | 'transition' | 'recordChunk' | 'dispatchCommit' | 'chunkTotals' | 'stagedChunks' | 'inFlight'>;
  pipelines: Pick<Pipelines, 'get'>;
  connections: Pick<Connections, 'get'>;
  artifacts: Pick<Artifacts, 'store'>;
}

export interface RunMachineOptions {
  limits: TaskLimits;
  /** Chunks per run when the pipeline does not say. */
  defaultChunks: number;
}

interface Plan {
  pipeline: PipelineRecord;
  sha256: string;
  chunks: number;
  load: LoadTask['payload'];
  target: CommitTask['payload']['target'];
}

/**
 * The run state machine: queued → planning → running → succeeded | failed, persisted in the control database.
 * A run is split into chunks (one load task each) and a commit task dispatched once every chunk is staged.
 * Every handler is idempotent: a redelivered message finds the transition already made and does nothing.
 */
export class RunMachine {
  constructor(
    private readonly store: RunMachineStore,
    private readonly opts: RunMachineOptions,
    private readonly log: Logger,
  ) {}

  async onRunRequested(msg: RunRequested): Promise<void> {
    const ctx = contextOf(msg);
    const log = this.log.child({ runId: msg.payload.runId, requestId: msg.requestId });
    let run: RunRecord;
    try {
      run = await this.store.runs.getById(msg.payload.runId);
    } catch (err) {
      if (err instanceof NotFoundError) return log.warn('run request for an unknown run; dropped');
      throw err;
    }
    if (run.status !== 'queued' && run.status !== 'planning') return; // already planned: redelivery
    if (run.status === 'queued') {
      const moved = await this.store.runs.transition(run.id, ['queued'], 'planning', {}, [this.statusEvent(run, 'planning', ctx)]);
      if (!moved) return;
    }
    let plan: Plan;
    try {
      plan = await this.plan(run);
    } catch (err) {
      if (!(err instanceof InputError || err instanceof NotFoundError)) throw err; // infrastructure: retry later
      return this.fail(run, { code: err.code, message: err.message }, ctx, null);
    }
    const tasks = Array.from({ length: plan.chunks }, (_, index) => this.loadTask(plan, index, ctx));
    await this.store.runs.transition(run.id, ['planning'], 'running', { artifactSha256: plan.sha256, chunks: plan.chunks }, [
      ...tasks,
      this.statusEvent(run, 'running', ctx),
    ]);
    log.info({ chunks: plan.chunks, artifact: plan.sha256 }, 'run planned; tasks dispatched');
  }

  async onEvent(msg: EventMessage): Promise<void> {
    if (msg.type !== 'task.succeeded' && msg.type !== 'task.failed') return;
    const ctx = contextOf(msg);
    const run = await this.store.runs.getById(msg.payload.runId).catch((err: unknown) => {
      if (err instanceof NotFoundError) return null;
      throw err;
    });
    if (!run) return;
    const { step, chunk } = msg.payload;
    if (step === 'abort') {
      if (msg.type === 'task.failed') this.log.warn({ runId: run.id, error: msg.payload.error.code }, 'abort task failed; staged rows stay until the next abort');
      return;
    }
    if (run.status !== 'running') return;

    if (msg.type === 'task.failed') return this.fail(run, msg.payload.error, ctx, await this.plan(run).catch(() => null));
    const p = msg.payload;
    if (step === 'load') {
      const progress = await this.store.runs.recordChunk(run.id, chunk, p);
      if (!progress.complete) return;
      // Every chunk is staged: the commit task goes out once, however often the last result is delivered. A crash
      // before dispatchCommit leaves the result unacknowledged, so its redelivery (or the reconciler) dispatches it.
      const plan = await this.plan(run);
      const dispatched = await this.store.runs.dispatchCommit(run.id, [this.commitTask(plan, run, 'commit', ctx)]);
      if (dispatched) this.log.info({ runId: run.id, chunks: progress.of }, 'all chunks staged; commit dispatched');
      return;
    }
    const totals = await this.store.runs.chunkTotals(run.id);
    const done = await this.store.runs.transition(
      run.id,
      ['running'],
      'succeeded',
      { rowsIn: totals.rowsIn, rowsOut: p.rowsOut, bytesOut: totals.bytesOut },
      [this.statusEvent(run, 'succeeded', ctx, { rowsOut: p.rowsOut, bytesOut: totals.bytesOut })],
    );
    if (done) this.log.info({ runId: run.id, rowsOut: p.rowsOut, requestId: msg.requestId }, 'run succeeded');
  }

  /** A dead-lettered message that names a run fails that run with the reason (the message itself is not trusted). */
  async onDeadLetter(raw: string, reason: string): Promise<void> {
    const runId = runIdIn(raw);
    if (!runId) return;
    const run = await this.store.runs.getById(runId).catch(() => null);
    if (!run) return;
    const plan = run.status === 'running' ? await this.plan(run).catch(() => null) : null;
    await this.fail(run, { code: 'poison_message', message: `a message of this run was dead-lettered: ${reason}`.slice(0, 4000) }, { requestId: run.requestId }, plan);
  }

  /**
   * Resumes runs from the database: queued or planning runs are planned again; running runs idle for long
   * get their missing chunk tasks (or the commit) dispatched again. The load ledger makes repeats no-ops.
   */
  async reconcile(planningIdleMs: number, runningIdleMs: number): Promise<number> {
    let resumed = 0;
    for (const run of await this.store.runs.inFlight(Math.min(planningIdleMs, runningIdleMs))) {
      const idle = Date.now() - Date.parse(run.updatedAt);
      const ctx = { requestId: run.requestId };
      if (run.status === 'queued' || run.status === 'planning') {
        if (idle < planningIdleMs) continue;
        await this.onRunRequested(envelope('run.requested', { runId: run.id, tenant: run.tenant }, ctx));
      } else {
        if (idle < runningIdleMs) continue;
        const plan = await this.plan(run);
        const staged = new Set(await this.store.runs.stagedChunks(run.id));
        const messages: OutboxMessage[] =
          staged.size === run.chunks
            ? [this.commitTask(plan, run, 'commit', ctx)]
            : Array.from({ length: run.chunks }, (_, i) => i)
                .filter((i) => !staged.has(i))
                .map((i) => this.loadTask({ ...plan, chunks: run.chunks }, i, ctx));
        await this.store.runs.transition(run.id, ['running'], 'running', {}, messages);
      }
      this.log.info({ runId: run.id, status: run.status, idleMs: idle }, 'run resumed from the database');
      resumed += 1;
    }
    return resumed;
  }

  private async plan(run: RunRecord): Promise<Plan> {
    // A run submitted before its pipeline was deleted still runs the pipeline it was submitted for.
    const pipeline = await this.store.pipelines.get(run.tenant, run.pipelineId, { includeDeleted: true });
    const spec = pipeline.spec;
    const [source, target] = await Promise.all([
      this.store.connections.get(run.tenant, spec.source.connection).then(descriptorOf),
      this.store.connections.get(run.tenant, spec.target.connection).then(descriptorOf),
    ]);
    const artifact = await this.store.artifacts.store(pipeline.id, 'python', spec.transform.code);
    const targetSpec = { connection: target, table: spec.target.table, mode: spec.target.mode, keys: spec.target.keys ?? [] };
    const chunks = run.status === 'running' ? run.chunks : (spec.chunks ?? this.opts.defaultChunks);
    return {
      pipeline,
      sha256: artifact.sha256,
      chunks,
      target: targetSpec,
      load: {
        taskId: '',
        runId: run.id,
        tenant: run.tenant,
        source: { connection: source, table: spec.source.table },
        target: targetSpec,
        transform: { language: 'python', code: spec.transform.code, sha256: artifact.sha256 },
        limits: this.opts.limits,
        chunk: { index: 0, count: chunks },
      },
    };
  }

  private loadTask(plan: Plan, index: number, ctx: MessageContext): OutboxMessage {
    const payload = { ...plan.load, taskId: randomUUID(), chunk: { index, count: plan.chunks } };
    return { stream: STREAMS.tasks, message: envelope('task.load', payload, ctx) };
  }

  private commitTask(plan: Plan, run: RunRecord, action: 'commit' | 'abort', ctx: MessageContext): OutboxMessage {
    return {
      stream: STREAMS.tasks,
      message: envelope(
        'task.commit',
        { taskId: randomUUID(), runId: run.id, tenant: run.tenant, action, target: plan.target, chunks: run.chunks },
        ctx,
      ),
    };
  }

  /** Fails the run; if tasks were dispatched, an abort task drops whatever they staged. */
  private async fail(run: RunRecord, error: FailureReason, ctx: MessageContext, plan: Plan | null): Promise<void> {
    const messages = [this.statusEvent(run, 'failed', ctx, { reason: error.message.slice(0, 500) })];
    if (plan && run.status === 'running') messages.push(this.commitTask(plan, run, 'abort', ctx));
    const done = await this.store.runs.transition(run.id, ['queued', 'planning', 'running'], 'failed', { error }, messages);
    if (done) this.log.warn({ runId: run.id, code: error.code, requestId: ctx.requestId }, 'run failed');
  }

  private statusEvent(
    run: RunRecord,
    status: RunRecord['status'],
    ctx: MessageContext,
    extra: { rowsOut?: number; bytesOut?: number; reason?: string } = {},
  ): OutboxMessage {
    const durationMs = status === 'succeeded' || status === 'failed' ? Date.now() - Date.parse(run.createdAt) : undefined;
    return {
      stream: STREAMS.events,
      message: envelope(
        'run.status',
        { runId: run.id, tenant: run.tenant, pipelineId: run.pipelineId, status, ...extra, ...(durationMs !== undefined ? { durationMs } : {}) },
        ctx,
      ),
    };
  }
}

function contextOf(msg: { requestId: string; traceparent?: string }): MessageContext {
  return { requestId: msg.requestId, ...(msg.traceparent ? { traceparent: msg.traceparent } : {}) };
}
