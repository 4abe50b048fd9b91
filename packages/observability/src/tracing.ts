/**
 * OpenTelemetry for a service process. Import this module (through `@aoetl/observability/tracing`) and call
 * `startTracing` before anything that loads http, pg, ioredis or fastify: the instrumentations patch those modules
 * when they are first required (each service's `src/tracing.ts` is the first import of its `server.ts`).
 *
 * Configured only by the standard OTEL_* variables:
 * - export is on when OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER is set
 *   (protocol from OTEL_EXPORTER_OTLP_PROTOCOL, batching from OTEL_BSP_*), and then the HTTP, pg, ioredis and fastify
 *   instrumentations run;
 * - without them nothing is recorded or sent, but the W3C trace context still travels: a message's `traceparent` is
 *   carried on to the messages its handling publishes, and log lines name its trace id;
 * - OTEL_SDK_DISABLED=true turns everything off.
 *
 * This module must not import the rest of the package (pino, fastify): it runs first.
 */
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK } from '@opentelemetry/sdk-node';

/** Paths of the ops server and the dashboard's polling, which would each start a trace of their own. */
const UNTRACED_PATHS = new Set(['/livez', '/readyz', '/metrics']);

/** Whether the OTEL_* environment asks for spans to be exported. */
export function exportConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK once per process, for `serviceName` (unless OTEL_SERVICE_NAME names it otherwise).
 * Answers whether spans are exported.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const exporting = exportConfigured(env);
  if (sdk) return exporting;
  sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME?.trim() || `aoetl-${serviceName}`,
    // Without an exporter: no span processors (the SDK would otherwise default to OTLP on localhost), so no spans are
    // recorded; the propagator and the context manager are still installed, and the trace context is carried over.
    ...(exporting ? {} : { spanProcessors: [] }),
    // Traces only: metrics stay Prometheus (/metrics), logs stay pino lines on stdout (with their trace_id).
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: exporting
      ? [
          new HttpInstrumentation({
            ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? '').split('?')[0] ?? ''),
            // Outgoing calls (Vault, the OIDC issuer, the Docker engine) only as parts of a traced operation.
            requireParentforOutgoingSpans: true,
          }),
          new PgInstrumentation({ requireParentSpan: true }),
          // The consumer loops poll Redis all the time: only commands inside a traced operation become spans.
          new IORedisInstrumentation({ requireParentSpan: true }),
          new FastifyOtelInstrumentation({
            registerOnInitialization: true,
            ignorePaths: ({ url }) => UNTRACED_PATHS.has(url),
          }),
        ]
      : [],
  });
  sdk.start();
  return exporting;
}

/** Sends the spans still buffered and stops the SDK (at shutdown). */
export async function stopTracing(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  await running?.shutdown();
}
