import type { StreamTrimmer } from '@aoetl/bus';
import { STREAMS } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import { sleep } from '@aoetl/timing';

/** The streams the monitor trims (the dead-letter stream is kept for the operator). */
export const TRIMMED_STREAMS = [STREAMS.requests, STREAMS.tasks, STREAMS.events];

/**
 * Every `everyMs` until `signal` aborts, trims each stream of what every group has acknowledged. A failed trim is
 * logged and the others still run; the next round tries again.
 */
export async function trimLoop(trimmer: StreamTrimmer, opts: { everyMs: number; signal: AbortSignal; logger: Logger }): Promise<void> {
  while (!opts.signal.aborted) {
    await sleep(opts.everyMs, opts.signal);
    if (opts.signal.aborted) break;
    for (const stream of TRIMMED_STREAMS) {
      try {
        const removed = await trimmer.trim(stream);
        if (removed > 0) opts.logger.debug({ stream, removed }, 'stream trimmed');
      } catch (err) {
        opts.logger.warn({ err, stream }, 'trim failed');
      }
    }
  }
}
