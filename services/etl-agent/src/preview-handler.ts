import { envelope, type FailureReason, type PreviewRequested, type PreviewResult } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import { failureOf } from './task-handler.js';
import type { PreviewOutcome, PreviewRequest } from './sandbox-runner.js';

/** How long a preview's reply stream lives when nobody reads it (the gateway deletes it once read). */
export const PREVIEW_REPLY_TTL_SECONDS = 120;
/** Attempts per preview when the sandbox fails for a retryable reason (the first included). */
export const PREVIEW_ATTEMPTS = 2;

export interface PreviewHandlerDeps {
  agentId: string;
  /** The sandbox runner's preview (`SandboxTransformRunner.preview`): policy check, then the run. */
  preview: (req: PreviewRequest) => Promise<PreviewOutcome>;
  /** Writes the one reply entry to `stream` and lets the stream expire after `ttlSeconds`. */
  reply: (stream: string, message: PreviewResult, ttlSeconds: number) => Promise<void>;
  logger: Logger;
}

/**
 * Runs a preview (docs/adr/0005-preview.md) and writes its result to the request's reply stream. The code's own
 * failures (policy, exception, limits) are a result, not an error; an infrastructure failure (Docker down) is
 * answered too, classified, so the gateway never waits out its timeout for it. A throw (Redis unreachable) leaves
 * the entry pending for a retry.
 */
export function previewHandler(deps: PreviewHandlerDeps) {
  return async (msg: PreviewRequested): Promise<void> => {
    const { previewId, replyTo } = msg.payload;
    const log = deps.logger.child({ previewId, requestId: msg.requestId, tenant: msg.payload.tenant });
    const started = Date.now();
    let outcome: PreviewOutcome | undefined;
    for (let attempt = 1; !outcome; attempt++) {
      try {
        outcome = await deps.preview(msg.payload);
      } catch (err) {
        const { reason, retryable } = failureOf(err);
        // a transient infrastructure failure (a container that did not start) gets one more attempt
        if (retryable && attempt < PREVIEW_ATTEMPTS) {
          log.warn({ err, code: reason.code, attempt }, 'preview attempt failed; retrying');
          continue;
        }
        log.warn({ err, code: reason.code }, 'preview could not run');
        outcome = { ok: false, reason: reason satisfies FailureReason };
      }
    }
    const ctx = { requestId: msg.requestId, ...(msg.traceparent ? { traceparent: msg.traceparent } : {}) };
    const payload: PreviewResult['payload'] = outcome.ok
      ? { previewId, agentId: deps.agentId, ok: true, columns: outcome.columns, rows: outcome.rows, durationMs: Date.now() - started }
      : { previewId, agentId: deps.agentId, ok: false, error: outcome.reason };
    await deps.reply(replyTo, envelope('preview.result', payload, ctx), PREVIEW_REPLY_TTL_SECONDS);
    log.info({ ok: outcome.ok, rows: outcome.ok ? outcome.rows.length : 0, durationMs: Date.now() - started }, 'preview answered');
  };
}
