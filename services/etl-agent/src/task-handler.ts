import { STREAMS, envelope, isRetryable, type FailureReason, type LoadTask } from '@aoetl/contracts';
import { backoffMs, sleep } from '@aoetl/bus';
import { LoadFailure, runLoadTask, type LoadDeps } from '@aoetl/etl';
import type { Logger } from '@aoetl/observability';

export interface TaskHandlerDeps extends LoadDeps {
  agentId: string;
  attempts: number;
  publish: (stream: string, message: { type: string }) => Promise<unknown>;
  logger: Logger;
}

/**
 * Runs a load task and reports its outcome on the events stream. Transient failures (Vault, database
 * unavailable) are retried with backoff a bounded number of times; then the task fails with the reason.
 * A throw (the events stream itself unreachable) leaves the task pending for redelivery.
 */
export function taskHandler(deps: TaskHandlerDeps) {
  return async (msg: LoadTask): Promise<void> => {
    const { taskId, runId } = msg.payload;
    const ctx = { requestId: msg.requestId, ...(msg.traceparent ? { traceparent: msg.traceparent } : {}) };
    const log = deps.logger.child({ runId, taskId, requestId: msg.requestId });
    let failure: FailureReason | null = null;
    for (let attempt = 1; attempt <= deps.attempts; attempt++) {
      try {
        const result = await runLoadTask(msg.payload, { ...deps, logger: log });
        await deps.publish(STREAMS.events, envelope('task.succeeded', { taskId, runId, agentId: deps.agentId, ...result }, ctx));
        return;
      } catch (err) {
        if (err instanceof LoadFailure) {
          failure = err.reason;
          break;
        }
        const message = err instanceof Error ? err.message : String(err);
        failure = { code: (err as { code?: string }).code === 'upstream' ? 'upstream' : 'internal', message };
        if (!isRetryable(err) && !/ECONNREFUSED|ETIMEDOUT|ECONNRESET|terminat/i.test(message)) break;
        log.warn({ err, attempt }, 'load attempt failed; retrying');
        if (attempt < deps.attempts) await sleep(backoffMs(attempt, 500, 10_000) + 250);
      }
    }
    log.warn({ code: failure?.code }, 'task failed');
    await deps.publish(
      STREAMS.events,
      envelope('task.failed', { taskId, runId, agentId: deps.agentId, error: failure ?? { code: 'internal', message: 'unknown' } }, ctx),
    );
  };
}
