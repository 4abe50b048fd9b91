import { randomUUID } from 'node:crypto';

export interface MessageContext {
  requestId: string;
  traceparent?: string;
}

/** Builds an envelope for `payload`, carrying the request id and trace context of its cause. */
export function envelope<T extends string, P>(type: T, payload: P, ctx: MessageContext) {
  return {
    v: 1 as const,
    id: randomUUID(),
    type,
    requestId: ctx.requestId,
    ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
    at: new Date().toISOString(),
    payload,
  };
}
