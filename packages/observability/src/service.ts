import type { Static, TObject } from '@sinclair/typebox';
import closeWithGrace from 'close-with-grace';
import type { Registry } from 'prom-client';
import { loadConfig, redactConfig, secretValues } from '@aoetl/config';
import { ConfigError } from '@aoetl/contracts';
import { createLogger, registerSecret, type Logger } from './logger.js';
import { createRegistry, startOpsServer, type ReadinessChecks } from './ops-server.js';
import { startTracing, stopTracing } from './tracing.js';

/** The settings every service's config schema has (CommonConfig of @aoetl/config), plus its API port if it has an API. */
interface ServiceBaseConfig {
  AOETL_LOG_LEVEL: string;
  AOETL_HTTP_HOST: string;
  AOETL_METRICS_PORT: number;
  AOETL_HTTP_PORT?: number;
}

/** What a service's start function receives. */
export interface ServiceContext<C> {
  /** The validated configuration (read once, here). */
  config: C;
  logger: Logger;
  /** Served on /metrics. */
  registry: Registry;
}

/** What a started service hands back. */
export interface RunningService {
  /** /readyz checks (its dependencies reachable). */
  checks: ReadinessChecks;
  /** The service's API (e.g. a fastify app): listened on AOETL_HTTP_HOST:AOETL_HTTP_PORT, closed first at shutdown. */
  api?: { listen(opts: { host: string; port: number }): Promise<unknown>; close(): Promise<unknown> };
  /** Stops the service's own work (loops, consumers, connections); runs after the API closed. */
  stop(): Promise<void>;
}

export interface ServiceDefinition<T extends TObject> {
  /** The service's name: the logger's and the metrics' `service`. */
  name: string;
  /** The service's config schema. */
  config: T;
  /** How long shutdown may take before the process exits anyway; default 10 s. */
  graceMs?: number;
  start(ctx: ServiceContext<Static<T>>): Promise<RunningService>;
}

/** A booted service. */
export interface BootedService<C> extends ServiceContext<C> {
  /** The ops server (/livez, /readyz, /metrics). */
  ops: { server: { address(): unknown } };
  /** Runs the shutdown sequence (as a signal would) and removes the signal handlers. */
  close(): Promise<void>;
}

/**
 * The boot sequence every service shares: validated config (secrets registered for log scrubbing, the rest logged),
 * the logger, the service's own start, the ops server (/livez, /readyz, /metrics on AOETL_METRICS_PORT), the API on
 * AOETL_HTTP_PORT, and a graceful shutdown on SIGTERM/SIGINT or a fatal error (API, then the service, then the ops
 * server). Throws what failed; see startService for the process-level wrapper.
 */
export async function bootService<T extends TObject>(def: ServiceDefinition<T>, env: NodeJS.ProcessEnv = process.env): Promise<BootedService<Static<T>>> {
  const config = loadConfig(def.config, env);
  secretValues(def.config, config).forEach(registerSecret);
  const base = config as unknown as ServiceBaseConfig; // every service schema spreads CommonConfig
  const logger = createLogger({ name: def.name, level: base.AOETL_LOG_LEVEL });
  logger.info({ config: redactConfig(def.config, config) }, 'starting');
  const registry = createRegistry(def.name);
  const service = await def.start({ config, logger, registry });
  let ops: Awaited<ReturnType<typeof startOpsServer>> | undefined;
  try {
    if (service.api && base.AOETL_HTTP_PORT === undefined) {
      throw new ConfigError(`invalid configuration: ${def.name} has an API but its schema has no AOETL_HTTP_PORT`);
    }
    ops = await startOpsServer({ host: base.AOETL_HTTP_HOST, port: base.AOETL_METRICS_PORT, registry, logger, checks: service.checks });
    if (service.api) await service.api.listen({ host: base.AOETL_HTTP_HOST, port: base.AOETL_HTTP_PORT! });
  } catch (err) {
    // Started but not serving: release what runs (in tests; a service process exits anyway).
    await Promise.allSettled([service.stop(), ops?.close()]);
    throw err;
  }
  const opsServer = ops;

  const shutdown = async (): Promise<void> => {
    await service.api?.close();
    await service.stop();
    await opsServer.close();
    await stopTracing().catch((err: unknown) => logger.warn({ err }, 'flushing traces failed'));
  };
  const handlers = closeWithGrace({ delay: def.graceMs ?? 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'shutting down after error');
    else logger.info({ signal }, 'shutting down');
    await shutdown();
  });
  let closing: Promise<void> | undefined;
  return {
    config,
    logger,
    registry,
    ops: opsServer,
    close: () => {
      closing ??= (async () => {
        handlers.uninstall();
        await shutdown();
      })();
      return closing;
    },
  };
}

/**
 * Boots a service as the process's main program (`void startService({...})` in its server.ts). A failure to start
 * (a config error lists every bad variable in one message, nothing secret in it) is logged as one fatal line and
 * the process exits with status 1.
 */
export async function startService<T extends TObject>(def: ServiceDefinition<T>): Promise<void> {
  // Normally started already by the service's first import (src/tracing.ts), before http, pg, ioredis and fastify
  // were loaded; this only covers a service without one (its modules then stay uninstrumented, the context still travels).
  startTracing(def.name);
  try {
    await bootService(def);
  } catch (err) {
    createLogger({ name: def.name }).fatal({ err }, 'failed to start');
    process.exit(1);
  }
}
