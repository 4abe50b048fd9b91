import { randomUUID } from 'node:crypto';
import {
  ABORT_CHUNK,
  COMMIT_CHUNK,
  STREAMS,
  classifyError,
  envelope,
  runIdIn,
  type CommitTask,
  type FailureReason,
  type LoadTask,
  type TaskFailed,
  type TaskMessage,
  type TaskSucceeded,
} from '@aoetl/contracts';
import { backoffMs, sleep } from '@aoetl/timing';
import { LoadFailure, type LoadDeps, type LoadResult } from '@aoetl/etl';
import type { Logger } from '@aoetl/observability';

/** The steps a task runs: `@aoetl/etl`'s `loadChunk` and `commitRun` (fakes in unit tests). */
export interface TaskSteps {
  loadChunk(task: LoadTask['payload'], deps: LoadDeps): Promise<LoadResult>;
  commitRun(task: CommitTask['payload'], deps: LoadDeps): Promise<LoadResult>;
}

export interface TaskHandlerDeps extends LoadDeps {
  agentId: string;
  /** Attempts per task, the first included. */
  attempts: number;
  publish: (stream: string, message: { type: string }) => Promise<unknown>;
  logger: Logger;
  steps: TaskSteps;
  /** Wait after failed attempt `n` before the next one. Default: jittered exponential backoff, 0.25–10.25 s. */
  retryDelayMs?: (attempt: number) => number;
}

const MAX_MESSAGE = 4000;
const defaultDelay = (attempt: number) => backoffMs(attempt, 500, 10_000) + 250;

/**
 * What an error means for the task: the reason the run reports and whether another attempt may succeed. A
 * `LoadFailure` carries its own reason; anything else is classified by type and typed facts (`classifyError`:
 * Postgres SQLSTATE classes 08/40/53/57 and network errno are retryable upstream failures), never by its message.
 */
export function failureOf(err: unknown): { reason: FailureReason; retryable: boolean } {
  if (err instanceof LoadFailure) return { reason: err.reason, retryable: false };
  const typed = classifyError(err);
  return { reason: { code: typed.code, message: typed.message.slice(0, MAX_MESSAGE) }, retryable: typed.retryable };
}

/**
 * Runs a load or commit task and reports its outcome on the events stream. A retryable failure (Vault or a
 * database unavailable, a lost credential) is retried with backoff up to `attempts` times; then, or at once for
 * any other failure, the task fails with its reason. A throw (the events stream itself unreachable) leaves the
 * task pending for redelivery, and past the bus's delivery limit it is dead-lettered (`deadLetterHandler`).
 */
export function taskHandler(deps: TaskHandlerDeps) {
  const delay = deps.retryDelayMs ?? defaultDelay;
  return async (msg: TaskMessage): Promise<void> => {
    const { taskId, runId } = msg.payload;
    const step =
      msg.type === 'task.load'
        ? { step: 'load' as const, chunk: msg.payload.chunk.index }
        : { step: msg.payload.action, chunk: msg.payload.action === 'commit' ? COMMIT_CHUNK : ABORT_CHUNK };
    const ctx = { requestId: msg.requestId, ...(msg.traceparent ? { traceparent: msg.traceparent } : {}) };
    const log = deps.logger.child({ runId, taskId, requestId: msg.requestId, ...step });
    const run = (): Promise<LoadResult> =>
      msg.type === 'task.load'
        ? deps.steps.loadChunk(msg.payload, { ...deps, logger: log })
        : deps.steps.commitRun(msg.payload, { ...deps, logger: log });

    let failure: FailureReason | undefined;
    for (let attempt = 1; attempt <= deps.attempts; attempt++) {
      let result: LoadResult;
      try {
        result = await run();
      } catch (err) {
        const { reason, retryable } = failureOf(err);
        failure = reason;
        if (!retryable || attempt === deps.attempts) break;
        log.warn({ err, attempt, code: reason.code }, 'task attempt failed; retrying');
        await sleep(delay(attempt));
        continue;
      }
      const succeeded: TaskSucceeded['payload'] = { taskId, runId, agentId: deps.agentId, ...step, ...result };
      await deps.publish(STREAMS.events, envelope('task.succeeded', succeeded, ctx));
      return;
    }
    const error = failure ?? { code: 'internal', message: `no attempt ran (attempts: ${deps.attempts})` };
    log.warn({ code: error.code }, 'task failed');
    const failed: TaskFailed['payload'] = { taskId, runId, agentId: deps.agentId, ...step, error };
    await deps.publish(STREAMS.events, envelope('task.failed', failed, ctx));
  };
}

/**
 * A task the bus dead-lettered (it could not be parsed or kept failing to be handled) names its run when it can:
 * the run is failed with `poison_message`, so it does not wait forever. A message naming no run is only dropped.
 */
export function deadLetterHandler(deps: Pick<TaskHandlerDeps, 'agentId' | 'publish'>) {
  return async (raw: string, reason: string): Promise<void> => {
    const runId = runIdIn(raw);
    if (!runId) return;
    const error: FailureReason = { code: 'poison_message', message: `a task of this run was dead-lettered: ${reason}`.slice(0, MAX_MESSAGE) };
    const failed: TaskFailed['payload'] = { taskId: randomUUID(), runId, agentId: deps.agentId, step: 'load', chunk: 0, error };
    await deps.publish(STREAMS.events, envelope('task.failed', failed, { requestId: runId }));
  };
}
