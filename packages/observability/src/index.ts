export {
  createLogger,
  registerSecret,
  forgetSecret,
  scrub,
  MIN_SECRET_LENGTH,
  SecretTooShortError,
  REDACT_PATHS,
  type Logger,
  type LoggerConfig,
} from './logger.js';
export { buildOpsServer, startOpsServer, createRegistry, runChecks, type ReadinessChecks } from './ops-server.js';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
export {
  bootService,
  startService,
  type BootedService,
  type RunningService,
  type ServiceContext,
  type ServiceDefinition,
} from './service.js';
