import { AoetlError, STREAMS, envelope, isRetryable, type FailureReason, type TaskMessage } from '@aoetl/contracts';
import { backoffMs, sleep } from '@aoetl/bus';
import { LoadFailure, commitRun, loadChunk, type LoadDeps, type LoadResult } from '@aoetl/etl';
import type { Logger } from '@aoetl/observability';

export interface TaskHandlerDeps extends LoadDeps {
  agentId: string;
  attempts: number;
  publish: (stream: string, message: { type: string }) => Promise<unknown>;
  logger: Logger;
}

const TRANSIENT = /ECONNREFUSED|ETIMEDOUT|ECONNRESET|EPIPE|terminat|Connection terminated|socket hang up/i;

/**
 * Runs a load or commit task and reports its outcome on the events stream. Transient failures (Vault or a
 * database unavailable) are retried with backoff a bounded number of times; then the task fails with the reason.
 * A throw (the events stream itself unreachable) leaves the task pending for redelivery.
 */
export function taskHandler(deps: TaskHandlerDeps) {
  return async (msg: TaskMessage): Promise<void> => {
    const { taskId, runId } = msg.payload;
    const step =
      msg.type === 'task.load'
        ? { step: 'load' as const, chunk: msg.payload.chunk.index }
        : { step: msg.payload.action, chunk: msg.payload.action === 'commit' ? -1 : -2 };
    const ctx = { requestId: msg.requestId, ...(msg.traceparent ? { traceparent: msg.traceparent } : {}) };
    const log = deps.logger.child({ runId, taskId, requestId: msg.requestId, ...step });
    const task = (): Promise<LoadResult> =>
      msg.type === 'task.load' ? loadChunk(msg.payload, { ...deps, logger: log }) : commitRun(msg.payload, { ...deps, logger: log });
    let failure: FailureReason | null = null;
    for (let attempt = 1; attempt <= deps.attempts; attempt++) {
      try {
        const result = await task();
        await deps.publish(STREAMS.events, envelope('task.succeeded', { taskId, runId, agentId: deps.agentId, ...step, ...result }, ctx));
        return;
      } catch (err) {
        if (err instanceof LoadFailure) {
          failure = err.reason;
          break;
        }
        const message = err instanceof Error ? err.message : String(err);
        failure = { code: err instanceof AoetlError ? err.code : 'internal', message };
        if (!isRetryable(err) && !TRANSIENT.test(message)) break;
        log.warn({ err, attempt }, 'task attempt failed; retrying');
        if (attempt < deps.attempts) await sleep(backoffMs(attempt, 500, 10_000) + 250);
      }
    }
    log.warn({ code: failure?.code }, 'task failed');
    await deps.publish(
      STREAMS.events,
      envelope('task.failed', { taskId, runId, agentId: deps.agentId, ...step, error: failure ?? { code: 'internal', message: 'unknown' } }, ctx),
    );
  };
}
