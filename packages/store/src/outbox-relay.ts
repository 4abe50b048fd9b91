import { setTimeout as delay } from 'node:timers/promises';
import type { ControlStore } from './control-store.js';

export interface RelayOptions {
  /** Wait between polls when the outbox is empty. */
  pollMs: number;
  signal: AbortSignal;
  logger: { warn(obj: object, msg: string): void };
  onRelayed?: (count: number) => void;
}

/**
 * Publishes this producer's committed outbox rows until `signal` aborts. A crash between publishing and marking
 * a row sent republishes it on the next pass, which consumers tolerate (their effects are idempotent).
 */
export async function runOutboxRelay(
  store: ControlStore,
  publish: (stream: string, message: { type: string }) => Promise<unknown>,
  opts: RelayOptions,
): Promise<void> {
  const pause = (ms: number) => delay(ms, undefined, { signal: opts.signal }).catch(() => undefined);
  while (!opts.signal.aborted) {
    try {
      const n = await store.relayOutbox(publish);
      opts.onRelayed?.(n);
      if (n === 0) await pause(opts.pollMs);
    } catch (err) {
      opts.logger.warn({ err }, 'outbox relay failed; retrying');
      await pause(1000);
    }
  }
}
