import Fastify from 'fastify';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';

export type ReadinessChecks = Record<string, () => Promise<void>>;

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  checks: ReadinessChecks;
  logger: Logger;
}

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Runs every readiness check: each answers `ok` or `failed`, never its error's text (which can name hosts, users or
 * values); the reason goes to the log (scrubbed) when a logger is given.
 */
export async function runChecks(checks: ReadinessChecks, logger?: Logger): Promise<Record<string, 'ok' | 'failed'>> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await check();
        return [name, 'ok'] as const;
      } catch (err) {
        logger?.warn({ err, check: name }, 'readiness check failed');
        return [name, 'failed'] as const;
      }
    }),
  );
  return Object.fromEntries(results);
}

/** /livez, /readyz and /metrics on their own port, apart from any API. */
export function buildOpsServer(opts: Omit<OpsServerOptions, 'host' | 'port'>) {
  const app = Fastify({ loggerInstance: opts.logger.child({ component: 'ops' }), disableRequestLogging: true });
  app.get('/livez', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks = await runChecks(opts.checks, opts.logger);
    const ready = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(body);
  });
  return app;
}

export async function startOpsServer(opts: OpsServerOptions): Promise<ReturnType<typeof buildOpsServer>> {
  const app = buildOpsServer(opts);
  await app.listen({ host: opts.host, port: opts.port });
  return app;
}
