import {
  InputError,
  NotFoundError,
  STREAMS,
  envelope,
  type EventMessage,
  type FailureReason,
  type MessageContext,
  type RunRequested,
  type TaskLimits,
  runIdIn,
  withSpan,
} from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import {
  descriptorOf,
  type ApprovalRecord,
  type Approvals,
  type Connections,
  type OutboxMessage,
  type RunPlan,
  type RunPlanning,
  type RunRecord,
  type Runs,
} from '@aoetl/store';
import { commitTask, derivePlan, loadTask, startRefusal } from './plan.js';
import type { TransformPlanner } from './transform-planner.js';

/**
 * What the run machine needs from the control database: the orchestrator passes its Store, unit tests a fake.
 * It never reads a pipeline: a run executes its snapshot.
 */
export interface RunMachineStore {
  runs: Pick<
    Runs,
    | 'getById' | 'transition' | 'recordChunk' | 'dispatchCommit' | 'chunkTotals' | 'stagedChunks' | 'inFlight' | 'lastSucceededRows'
    | 'claimChunks' | 'sendTasks' | 'tenantsAwaitingDispatch'
  >;
  connections: Pick<Connections, 'get'>;
  approvals: Pick<Approvals, 'get'>;
}

export interface RunMachineOptions {
  limits: TaskLimits;
  /** Chunks per run when the pipeline does not say. */
  defaultChunks: number;
  /** Chooses the code of a run at planning (the model planner and its fallbacks); absent: the snapshot's code. */
  transformPlanner?: TransformPlanner;
  /**
   * Fair dispatch: at most this many chunk tasks of one tenant in flight (sent, not yet staged); the rest go out as
   * those finish, oldest run first. One tenant's thousands of queued chunks then never stand in front of another
   * tenant's. Absent: every chunk of a run is sent when it starts.
   */
  maxChunksInFlightPerTenant?: number;
  /**
   * Sandbox CPU time (ms) a run may use over all its chunks; past it the run fails with `cpu_budget_exceeded` and
   * what it staged is dropped. A chunk's own CPU time is capped in the sandbox (RLIMIT_CPU), so a run overshoots by
   * at most the chunks in flight when the budget runs out. Absent: no budget.
   */
  cpuBudgetMs?: number;
}

/**
 * The run state machine: queued → planning → running → succeeded | failed, persisted in the control database.
 * Planning checks the run's snapshot (and its approval, bound to that snapshot), derives the plan from it once and
 * stores it on the run; every chunk, the commit, the abort and the reconciler use that stored plan. A run is split
 * into chunks (one load task each) and a commit task dispatched once every chunk is staged. Every handler is
 * idempotent: a redelivered message finds the transition already made and does nothing.
 */
export class RunMachine {
  constructor(
    private readonly store: RunMachineStore,
    private readonly opts: RunMachineOptions,
    private readonly log: Logger,
  ) {}

  /** Plans a run in the span `aoetl.run` (its tasks, and so every chunk, the commit and their events, descend from it). */
  async onRunRequested(msg: RunRequested): Promise<void> {
    return withSpan('aoetl.run', { 'aoetl.run.id': msg.payload.runId, 'aoetl.tenant': msg.payload.tenant }, () => this.planRun(msg));
  }

  private async planRun(msg: RunRequested): Promise<void> {
    const ctx = contextOf(msg);
    const log = this.log.child({ runId: msg.payload.runId, requestId: msg.requestId });
    let run: RunRecord;
    try {
      run = await this.store.runs.getById(msg.payload.runId);
    } catch (err) {
      if (err instanceof NotFoundError) return log.warn('run request for an unknown run; dropped');
      throw err;
    }
    if (run.status !== 'queued' && run.status !== 'planning') {
      // Already planned (a redelivery): after a crash between planning and sending, send what the cap allows.
      if (run.status === 'running') await this.dispatchFair(run.tenant);
      return;
    }
    if (run.status === 'queued') {
      const moved = await this.store.runs.transition(run.id, ['queued'], 'planning', {}, [this.statusEvent(run, 'planning', ctx)]);
      if (!moved) return;
      run = moved;
    }
    const approval = run.approvalRequired ? await this.approvalOf(run) : null;
    const refusal = startRefusal(run, approval);
    if (refusal) return this.fail(run, refusal, ctx, null);
    await withSpan('aoetl.run.plan', { 'aoetl.run.id': run.id }, async (span) => {
      let plan: RunPlan;
      try {
        plan = await this.derive(run);
      } catch (err) {
        if (!(err instanceof InputError || err instanceof NotFoundError)) throw err; // infrastructure: retry later
        return this.fail(run, { code: err.code, message: err.message }, ctx, null);
      }
      const choice = this.opts.transformPlanner ? await this.opts.transformPlanner.choose(run, ctx) : null;
      // only from planning: a second planner of the same run (the reconciler) may have started it meanwhile
      if (choice && !choice.ok) return this.fail(run, choice.error, ctx, null, choice.planning, ['planning']);
      // Written code (python or sql) runs as the snapshot has it; a planned instruction runs the chosen code.
      if (choice && choice.planning.planner !== 'code') {
        // The planned output columns stay: the model's code is checked to produce the same (ADR 0006, model planner).
        const output = plan.transform.language === 'python' ? plan.transform.output : undefined;
        plan = { ...plan, transform: { language: 'python', code: choice.code, sha256: choice.sha256, ...(output ? { output } : {}) } };
        // The model's code may compare rows across the source: it sees the whole source as one chunk.
        if (choice.planning.planner === 'llm') plan = { ...plan, chunks: 1 };
      }
      span.setAttribute('aoetl.run.chunks', plan.chunks);
      const fair = this.opts.maxChunksInFlightPerTenant !== undefined;
      const tasks = fair ? [] : Array.from({ length: plan.chunks }, (_, index) => loadTask(plan, run, index, ctx));
      const started = await this.store.runs.transition(
        run.id,
        ['planning'],
        'running',
        { plan, chunks: plan.chunks, chunksDispatched: tasks.length, ...(choice ? { planning: choice.planning } : {}) },
        [...tasks, this.statusEvent(run, 'running', ctx)],
      );
      if (started) await this.dispatchFair(run.tenant);
      log.info(
        {
          chunks: plan.chunks, artifact: plan.transform.sha256, pipelineVersion: run.pipelineVersion, fair,
          planner: choice?.planning.planner, fallbacks: choice?.planning.fallbacks.length,
        },
        'run planned; tasks dispatched',
      );
    });
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

    if (msg.type === 'task.failed') {
      await this.fail(run, msg.payload.error, ctx, await this.planOf(run).catch(() => null));
      return this.dispatchFair(run.tenant); // the failed run's chunks no longer hold the tenant's slots
    }
    const p = msg.payload;
    if (step === 'load') {
      const progress = await this.store.runs.recordChunk(run.id, chunk, p, p.watermark);
      const budget = this.opts.cpuBudgetMs;
      if (budget !== undefined && progress.cpuMs > budget) {
        const message = `the run's transforms used ${(progress.cpuMs / 1000).toFixed(1)} s of sandbox CPU time, over its budget of ${(budget / 1000).toFixed(1)} s`;
        await this.fail(run, { code: 'cpu_budget_exceeded', message }, ctx, await this.planOf(run));
        return this.dispatchFair(run.tenant);
      }
      await this.dispatchFair(run.tenant); // a slot is free: the tenant's next chunk goes out
      if (!progress.complete) return;
      // Every chunk is staged: the commit task goes out once, however often the last result is delivered. A crash
      // before dispatchCommit leaves the result unacknowledged, so its redelivery (or the reconciler) dispatches it.
      const plan = await this.planOf(run);
      const dispatched = await this.store.runs.dispatchCommit(run.id, [commitTask(plan, run, 'commit', ctx)]);
      if (dispatched) this.log.info({ runId: run.id, chunks: progress.of }, 'all chunks staged; commit dispatched');
      return;
    }
    const totals = await this.store.runs.chunkTotals(run.id);
    const done = await this.store.runs.transition(
      run.id,
      ['running'],
      'succeeded',
      { rowsIn: totals.rowsIn, rowsOut: p.rowsOut, bytesOut: totals.bytesOut, ...(p.checks ? { checks: p.checks } : {}) },
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
    const plan = run.status === 'running' ? await this.planOf(run).catch(() => null) : null;
    await this.fail(run, { code: 'poison_message', message: `a message of this run was dead-lettered: ${reason}`.slice(0, 4000) }, { requestId: run.requestId }, plan);
  }

  /**
   * Resumes runs from the database: queued or planning runs are planned again; running runs idle for long
   * get their missing chunk tasks (or the commit) dispatched again from their stored plan. The load ledger makes
   * repeats no-ops.
   */
  async reconcile(planningIdleMs: number, runningIdleMs: number): Promise<number> {
    let resumed = 0;
    // Fair dispatch: a tenant with free slots and waiting chunks (its last event was lost in a crash) gets them now.
    if (this.opts.maxChunksInFlightPerTenant !== undefined) {
      for (const tenant of await this.store.runs.tenantsAwaitingDispatch()) await this.dispatchFair(tenant);
    }
    for (const run of await this.store.runs.inFlight(Math.min(planningIdleMs, runningIdleMs))) {
      const idle = Date.now() - Date.parse(run.updatedAt);
      const ctx = { requestId: run.requestId };
      if (run.status === 'queued' || run.status === 'planning') {
        if (idle < planningIdleMs) continue;
        await this.onRunRequested(envelope('run.requested', { runId: run.id, tenant: run.tenant }, ctx));
      } else {
        if (idle < runningIdleMs) continue;
        const plan = await this.planOf(run);
        const staged = new Set(await this.store.runs.stagedChunks(run.id));
        // Only chunks already dispatched are sent again; fair dispatch sends the others as the tenant's cap allows.
        const messages: OutboxMessage[] =
          staged.size === plan.chunks
            ? [commitTask(plan, run, 'commit', ctx)]
            : Array.from({ length: Math.min(plan.chunks, run.chunksDispatched) }, (_, i) => i)
                .filter((i) => !staged.has(i))
                .map((i) => loadTask(plan, run, i, ctx));
        if (messages.length > 0) await this.store.runs.transition(run.id, ['running'], 'running', {}, messages);
        await this.dispatchFair(run.tenant);
      }
      this.log.info({ runId: run.id, status: run.status, idleMs: idle }, 'run resumed from the database');
      resumed += 1;
    }
    return resumed;
  }

  /** Sends the tenant's next chunk tasks, as many as its in-flight cap allows (fair dispatch; no-op when off). */
  private async dispatchFair(tenant: string): Promise<void> {
    const cap = this.opts.maxChunksInFlightPerTenant;
    if (cap === undefined) return;
    for (const { run, chunks } of await this.store.runs.claimChunks(tenant, cap)) {
      const plan = await this.planOf(run);
      await this.store.runs.sendTasks(chunks.map((i) => loadTask(plan, run, i, { requestId: run.requestId })));
    }
  }

  /** The run's stored plan; a run planned before plans were stored gets one derived from its snapshot. */
  private async planOf(run: RunRecord): Promise<RunPlan> {
    return run.plan ?? this.derive(run);
  }

  private async derive(run: RunRecord): Promise<RunPlan> {
    const spec = run.snapshot;
    if (!spec) throw new InputError('the run has no snapshot of its pipeline version');
    const [sourceRecord, target] = await Promise.all([
      this.store.connections.get(run.tenant, spec.source.connection),
      this.store.connections.get(run.tenant, spec.target.connection).then(descriptorOf),
    ]);
    const source = descriptorOf(sourceRecord);
    const baselineRows = spec.checks?.some((c) => c.kind === 'row_count_change')
      ? await this.store.runs.lastSucceededRows(run.pipelineId, run.createdAt)
      : null;
    return derivePlan(run, {
      source, target, limits: this.opts.limits, defaultChunks: this.opts.defaultChunks, baselineRows, sourceSchemas: sourceRecord.allowedSchemas,
    });
  }

  private async approvalOf(run: RunRecord): Promise<ApprovalRecord | null> {
    try {
      return await this.store.approvals.get(run.tenant, run.id);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  /** Fails the run; if tasks were dispatched, an abort task drops whatever they staged. */
  private async fail(run: RunRecord, error: FailureReason, ctx: MessageContext, plan: RunPlan | null, planning?: RunPlanning, from: RunRecord['status'][] = ['queued', 'planning', 'running']): Promise<void> {
    const messages = [this.statusEvent(run, 'failed', ctx, { reason: error.message.slice(0, 500) })];
    if (plan && run.status === 'running') messages.push(commitTask(plan, run, 'abort', ctx));
    const done = await this.store.runs.transition(run.id, from, 'failed', { error, ...(planning ? { planning } : {}) }, messages);
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
