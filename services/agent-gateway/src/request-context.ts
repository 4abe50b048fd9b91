import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { MessageContext } from '@aoetl/contracts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Takes a caller's x-request-id when it is well-formed, else makes one. */
export function requestIdFrom(header: unknown): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/** W3C trace context: continues the caller's trace when given, else starts one. */
export function traceparentFrom(header: unknown): string {
  const m = typeof header === 'string' ? TRACEPARENT.exec(header) : null;
  const traceId = m?.[1] ?? randomBytes(16).toString('hex');
  return `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
}

export function messageContext(request: FastifyRequest): MessageContext {
  return { requestId: String(request.id), traceparent: traceparentFrom(request.headers.traceparent) };
}
