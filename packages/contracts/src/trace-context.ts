import { SpanStatusCode, context, isSpanContextValid, propagation, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

/** W3C `traceparent` of a stream message (the envelope's field; see docs/operations/tracing.md). */
export const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The `traceparent` of the active span (a handler of a traced message, an HTTP request), or undefined outside any
 * trace. With the OpenTelemetry SDK off this is still the context a consumed message carried in.
 */
export function activeTraceparent(ctx: Context = context.active()): string | undefined {
  const span = trace.getSpan(ctx)?.spanContext();
  if (!span || !isSpanContextValid(span)) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  // Without a registered propagator (the SDK not started: unit tests, tools) inject writes nothing: format it here.
  return carrier.traceparent ?? `00-${span.traceId}-${span.spanId}-0${(span.traceFlags & 1).toString(16)}`;
}

/** The context a message's `traceparent` continues (the active one when it has none or it is malformed). */
export function contextFromTraceparent(traceparent: string | undefined, base: Context = context.active()): Context {
  if (!traceparent || !TRACEPARENT.test(traceparent)) return base;
  return propagation.extract(base, { traceparent }, { get: (c, k) => c[k as 'traceparent'], keys: (c) => Object.keys(c) });
}

/** The trace id a `traceparent` names, for log lines. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}

/**
 * Runs `work` in a span named `name` (a child of the active span): ended when `work` settles, marked as an error
 * (with the error's `code` when it has one, never its message, which can quote data) when it throws.
 */
export async function withSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer('aoetl').startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'failed' });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Starts a span for a part of the active operation that overlaps others (a stream side); end it with `endSpan`. */
export function startChildSpan(name: string, attributes: Attributes): Span {
  return trace.getTracer('aoetl').startSpan(name, { attributes });
}

/** Ends a span from `startChildSpan`, as an error when `err` is given (its `code` only, never its message). */
export function endSpan(span: Span, err?: unknown): void {
  if (err) {
    const code = (err as { code?: unknown }).code;
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'failed' });
  }
  span.end();
}

/** Marks a span as failed with a stable code (e.g. a FailureReason's `code`). */
export function failSpan(span: Span, code: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

export type { Span } from '@opentelemetry/api';
