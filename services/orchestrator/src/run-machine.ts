import { randomUUID } from 'node:crypto';
import {
  InputError,
  NotFoundError,
  STREAMS,
  envelope,
  type EventMessage,
  type FailureReason,
  type LoadTask,
  type MessageContext,
  type RunRequested,
  type TaskLimits,
} from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import type { ControlStore, OutboxMessage, RunRecord } from '@aoetl/store';

/**
 * The run state machine: queued → planning → running → succeeded | failed, persisted in the control database.
 * Every handler is idempotent: a redelivered message finds the transition already made and does nothing.
 */
export class RunMachine {
  constructor(
    private readonly store: ControlStore,
    private readonly limits: TaskLimits,
    private readonly log: Logger,
  ) {}

  async onRunRequested(msg: RunRequested): Promise<void> {
    const ctx: MessageContext = { requestId: msg.requestId, ...(msg.traceparent ? { traceparent: msg.traceparent } : {}) };
    const log = this.log.child({ runId: msg.payload.runId, requestId: msg.requestId });
    let run: RunRecord;
    try {
      run = await this.store.getRunById(msg.payload.runId);
    } catch (err) {
      if (err instanceof NotFoundError) return log.warn('run request for an unknown run; dropped');
      throw err;
    }
    if (run.status !== 'queued' && run.status !== 'planning') return; // already planned: redelivery
    if (run.status === 'queued') {
      const moved = await this.store.transitionRun(run.id, ['queued'], 'planning', {}, [this.statusEvent(run, 'planning', ctx)]);
      if (!moved) return;
    }
    try {
      const task = await this.plan(run, ctx);
      await this.store.transitionRun(run.id, ['planning'], 'running', { artifactSha256: task.payload.transform.sha256 }, [
        { stream: STREAMS.tasks, message: task },
        this.statusEvent(run, 'running', ctx),
      ]);
      log.info({ taskId: task.payload.taskId, artifact: task.payload.transform.sha256 }, 'run planned; task dispatched');
    } catch (err) {
      if (!(err instanceof InputError || err instanceof NotFoundError)) throw err; // infrastructure: retry later
      await this.fail(run, { code: err.code, message: err.message }, ctx);
    }
  }

  async onEvent(msg: EventMessage): Promise<void> {
    if (msg.type !== 'task.succeeded' && msg.type !== 'task.failed') return;
    const ctx: MessageContext = { requestId: msg.requestId, ...(msg.traceparent ? { traceparent: msg.traceparent } : {}) };
    const run = await this.store.getRunById(msg.payload.runId).catch((err: unknown) => {
      if (err instanceof NotFoundError) return null;
      throw err;
    });
    if (!run || run.status !== 'running') return;
    if (msg.type === 'task.failed') return this.fail(run, msg.payload.error, ctx);
    const p = msg.payload;
    const done = await this.store.transitionRun(run.id, ['running'], 'succeeded', {
      rowsIn: p.rowsIn,
      rowsOut: p.rowsOut,
      bytesOut: p.bytesOut,
    }, [this.statusEvent(run, 'succeeded', ctx, { rowsOut: p.rowsOut, bytesOut: p.bytesOut })]);
    if (done) this.log.info({ runId: run.id, rowsOut: p.rowsOut, requestId: msg.requestId }, 'run succeeded');
  }

  private async plan(run: RunRecord, ctx: MessageContext): Promise<LoadTask> {
    const pipeline = await this.store.getPipeline(run.tenant, run.pipelineId);
    const spec = pipeline.spec;
    const [source, target] = await Promise.all([
      this.store.getConnection(run.tenant, spec.source.connection),
      this.store.getConnection(run.tenant, spec.target.connection),
    ]);
    const artifact = await this.store.storeArtifact(pipeline.id, 'python', spec.transform.code);
    return envelope(
      'task.load',
      {
        taskId: randomUUID(),
        runId: run.id,
        tenant: run.tenant,
        source: { connection: source, table: spec.source.table },
        target: { connection: target, table: spec.target.table, mode: spec.target.mode, keys: spec.target.keys ?? [] },
        transform: { language: 'python' as const, code: spec.transform.code, sha256: artifact.sha256 },
        limits: this.limits,
      },
      ctx,
    );
  }

  private async fail(run: RunRecord, error: FailureReason, ctx: MessageContext): Promise<void> {
    const done = await this.store.transitionRun(run.id, ['queued', 'planning', 'running'], 'failed', { error }, [
      this.statusEvent(run, 'failed', ctx, { reason: error.message.slice(0, 500) }),
    ]);
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
