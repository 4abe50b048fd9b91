import { backoffMs, sleep } from '@aoetl/timing';
import { LlmRequestError } from './errors.js';

export interface RetryOptions {
  /** Requests at most (first one included). */
  maxAttempts: number;
  /** Base of the exponential backoff (`@aoetl/timing`, equal jitter) when the endpoint gives no Retry-After. */
  baseDelayMs: number;
  /** Longest wait between attempts; a Retry-After above it ends the retries at once. */
  maxDelayMs: number;
}

/**
 * A Retry-After header as milliseconds: `retry-after-ms`, else `retry-after` in seconds or as an HTTP date.
 * Undefined when absent or unreadable.
 */
export function retryAfterMs(header: (name: string) => string | null | undefined, now = Date.now()): number | undefined {
  const ms = Number(header('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = header('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Runs `attempt` until it succeeds, throws something not retryable, or `maxAttempts` is reached. Only a retryable
 * `LlmRequestError` is retried, after the endpoint's Retry-After when it gave one, else an exponential backoff.
 * The error thrown at the end says how many attempts were made.
 */
export async function withRetries<T>(options: RetryOptions, attempt: (n: number) => Promise<T>): Promise<{ value: T; attempts: number }> {
  for (let n = 1; ; n++) {
    try {
      return { value: await attempt(n), attempts: n };
    } catch (err) {
      if (!(err instanceof LlmRequestError) || !err.retryable) throw err;
      const wait = err.retryAfterMs ?? backoffMs(n, options.baseDelayMs, options.maxDelayMs);
      if (n >= options.maxAttempts || wait > options.maxDelayMs) {
        const why = n >= options.maxAttempts ? `after ${n} attempts` : `the endpoint asked to wait ${wait} ms`;
        throw new LlmRequestError(`${err.message} (${why})`, {
          reason: err.reason, status: err.status, retryAfterMs: err.retryAfterMs, attempts: n, cause: err.cause,
        });
      }
      await sleep(wait);
    }
  }
}
