import { context, trace } from '@opentelemetry/api';
import { activeTraceparent, contextFromTraceparent, envelope } from '@aoetl/contracts';
import { Collector } from '@aoetl/testing';
import { createLogger } from './logger';
import { exportConfigured, startTracing, stopTracing } from './tracing';

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracing', () => {
  afterAll(() => stopTracing());

  test('export is on only when an OTLP endpoint or exporter is configured, and never with OTEL_SDK_DISABLED', () => {
    expect(exportConfigured({})).toBe(false);
    expect(exportConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(exportConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
    expect(exportConfigured({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(false);
    expect(exportConfigured({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(false);
  });

  test('without an exporter the context of a message still travels to what its handler publishes, and logs name its trace', () => {
    expect(startTracing('test', {})).toBe(false);
    const destination = new Collector();
    const log = createLogger({ name: 't', destination });
    const tracer = trace.getTracer('test');
    const span = tracer.startSpan('aoetl:tasks process', {}, contextFromTraceparent(PARENT));
    const published = context.with(trace.setSpan(contextFromTraceparent(PARENT), span), () => {
      log.info('inside the handler');
      return envelope('agent.heartbeat', { agentId: 'a', service: 's' }, { requestId: 'r' });
    });
    span.end();
    expect(published.traceparent).toBe(PARENT);
    expect(JSON.parse(destination.text())).toMatchObject({ trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331' });
    // Outside any trace: no traceparent, no trace fields.
    expect(activeTraceparent()).toBeUndefined();
    expect(envelope('agent.heartbeat', { agentId: 'a', service: 's' }, { requestId: 'r' }).traceparent).toBeUndefined();
  });

  test('a malformed traceparent is ignored, not propagated', () => {
    expect(contextFromTraceparent('00-zz-yy-01')).toBe(context.active());
  });
});
