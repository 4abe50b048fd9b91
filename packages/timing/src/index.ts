/**
 * Waiting, in one place: every retry loop and poll in aoetl sleeps with `sleep` and spaces its retries with
 * `backoffMs`, so there is one formula to reason about.
 */

/**
 * Exponential backoff with "equal jitter": attempt 1 waits between half of `baseMs` and `baseMs`, each further
 * attempt doubles that window, up to `capMs`. The wait is never below half the window, so retries are spaced out
 * even for an unlucky draw, and the jitter keeps many clients from retrying in step.
 */
export function backoffMs(attempt: number, baseMs = 200, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

/**
 * Resolves after `ms`, or at once when `signal` aborts (it never rejects: a loop checks the signal itself).
 * `unref: true` does not keep the process alive for this timer.
 */
export function sleep(ms: number, signal?: AbortSignal, options: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (options.unref) timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
