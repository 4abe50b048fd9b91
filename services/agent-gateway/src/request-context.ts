import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AoetlError, type ErrorDetail, type MessageContext } from '@aoetl/contracts';

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

/** Where a domain field of a store error came from in the request (e.g. `cursor` → `querystring/cursor`). */
export type RequestFields = Readonly<Record<string, string>>;

/** The request fields of every list: its cursor is a query parameter. */
export const LIST_FIELDS: RequestFields = { cursor: 'querystring/cursor' };
/** The request fields of a pipeline written from a request body. */
export const PIPELINE_BODY_FIELDS: RequestFields = { name: 'body/name' };

type ErrorClass = new (message: string, options: { cause?: unknown; details?: ErrorDetail[] }) => AoetlError;

/**
 * The same domain error with its fields named as request paths, so the caller sees which part of the request to
 * fix. A message that starts with a mapped field (`cursor: …`) is renamed too; anything else passes unchanged.
 */
export function inRequestTerms(err: unknown, fields: RequestFields): unknown {
  if (!(err instanceof AoetlError)) return err;
  const where = (field: string | undefined) => (field !== undefined && Object.hasOwn(fields, field) ? fields[field] : undefined);
  if (!err.details.some((d) => where(d.field) !== undefined)) return err;
  const details = err.details.map((d) => ({ ...d, field: where(d.field) ?? d.field }));
  const prefix = /^([A-Za-z0-9_.-]+): /.exec(err.message);
  const renamed = prefix ? where(prefix[1]) : undefined;
  const message = renamed === undefined ? err.message : `${renamed}: ${err.message.slice(prefix![0].length)}`;
  return new (err.constructor as ErrorClass)(message, { cause: err, details });
}

/** Runs `work`, rethrowing its domain errors with request paths for their fields (see inRequestTerms). */
export async function withRequestFields<T>(fields: RequestFields, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw inRequestTerms(err, fields);
  }
}
