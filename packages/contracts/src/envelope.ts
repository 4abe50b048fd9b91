import { randomUUID } from 'node:crypto';
import { activeTraceparent } from './trace-context.js';

export interface MessageContext {
  requestId: string;
  traceparent?: string;
}

/**
 * Builds an envelope for `payload`, carrying the request id and trace context of its cause: the active span when
 * there is one (the handler's span, so the next hop is its child), else the cause's `traceparent`.
 */
export function envelope<T extends string, P>(type: T, payload: P, ctx: MessageContext) {
  const traceparent = activeTraceparent() ?? ctx.traceparent;
  return {
    v: 1 as const,
    id: randomUUID(),
    type,
    requestId: ctx.requestId,
    ...(traceparent ? { traceparent } : {}),
    at: new Date().toISOString(),
    payload,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The run id a raw, possibly malformed, message names, if any (for failing the run of a poison message). */
export function runIdIn(raw: string): string | null {
  try {
    const id = (JSON.parse(raw) as { payload?: { runId?: unknown } }).payload?.runId;
    return typeof id === 'string' && UUID.test(id) ? id : null;
  } catch {
    return null;
  }
}
