// The first import of server.ts: OpenTelemetry must patch http, pg, ioredis and fastify before they are loaded.
import { startTracing } from '@aoetl/observability/tracing';

startTracing('agent-gateway');
