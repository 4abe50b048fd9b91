import { randomUUID } from 'node:crypto';
import type { connectRedis } from './redis.js';
import {
  PREVIEW_REPLY_PREFIX,
  PreviewResult,
  STREAMS,
  UpstreamError,
  envelope,
  parse,
  type PreviewRequested,
  type TaskLimits,
} from '@aoetl/contracts';
import { sleep } from '@aoetl/timing';

type Redis = ReturnType<typeof connectRedis>;

/** What the preview route asks of a sandbox it does not have: run code over rows, answer the output. */
export interface PreviewSandbox {
  run(req: Pick<PreviewRequested['payload'], 'tenant' | 'code' | 'sha256' | 'columns' | 'rows'>, ctx: { requestId: string }): Promise<PreviewResult['payload']>;
}

export interface BusPreviewOptions {
  /** How long to wait for an etl-agent's answer. Default 30 s (a cold gVisor sandbox takes a few seconds). */
  timeoutMs?: number;
  /** How often the reply stream is looked at. Default 50 ms. */
  pollMs?: number;
  /** The sandbox limits of a preview. */
  limits?: TaskLimits;
  /** Approximate bound of the previews stream (its entries are short-lived requests). Default 10 000. */
  maxLen?: number;
}

export const PREVIEW_LIMITS: TaskLimits = { timeoutMs: 10_000, memoryMb: 256, maxOutputBytes: 4 * 1024 * 1024 };

/**
 * Previews through the bus (docs/adr/0005-preview.md): one `preview.requested` on the previews stream, consumed by
 * any etl-agent, which writes one `preview.result` to the preview's own reply stream; this side reads it with
 * non-blocking XREADs (no connection is held blocked) and deletes it. No answer within the timeout: UpstreamError.
 */
export function busPreviewSandbox(redis: Redis, opts: BusPreviewOptions = {}): PreviewSandbox {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pollMs = opts.pollMs ?? 50;
  return {
    async run(req, ctx) {
      const previewId = randomUUID();
      const replyTo = `${PREVIEW_REPLY_PREFIX}${previewId}`;
      const message = envelope('preview.requested', { previewId, ...req, replyTo, limits: opts.limits ?? PREVIEW_LIMITS }, ctx);
      await redis.xadd(STREAMS.previews, 'MAXLEN', '~', opts.maxLen ?? 10_000, '*', 'm', JSON.stringify(message));
      const deadline = Date.now() + timeoutMs;
      try {
        for (;;) {
          const res = await redis.xread('COUNT', 1, 'STREAMS', replyTo, '0');
          const fields = res?.[0]?.[1][0]?.[1];
          if (fields) {
            const raw = fields[fields.indexOf('m') + 1] ?? '';
            const result = parse(PreviewResult, JSON.parse(raw), 'preview result');
            if (result.payload.previewId !== previewId) throw new UpstreamError('a preview result names another preview', { retryable: false });
            return result.payload;
          }
          if (Date.now() >= deadline) throw new UpstreamError(`no etl-agent answered the preview within ${timeoutMs} ms`);
          await sleep(pollMs);
        }
      } finally {
        await redis.del(replyTo).catch(() => undefined);
      }
    },
  };
}
