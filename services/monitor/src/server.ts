import closeWithGrace from 'close-with-grace';
import { Bus, connectRedis, redisSettings, sleep, trimAcknowledged } from '@aoetl/bus';
import { loadConfig, redactConfig, secretValues } from '@aoetl/config';
import { EventMessage, GROUPS, STREAMS } from '@aoetl/contracts';
import { createLogger, createRegistry, registerSecret, startOpsServer } from '@aoetl/observability';
import { MonitorConfig } from './config.js';
import { buildDashboard } from './dashboard.js';
import { deadLetterRoutes } from './deadletters.js';
import { RunMetrics } from './run-metrics.js';
import { registerStreamMetrics } from './stream-metrics.js';

async function main(): Promise<void> {
  const config = loadConfig(MonitorConfig);
  secretValues(MonitorConfig, config).forEach(registerSecret);
  const logger = createLogger({ name: 'monitor', level: config.AOETL_LOG_LEVEL });
  logger.info({ config: redactConfig(MonitorConfig, config) }, 'starting');

  const redis = connectRedis(redisSettings(config));
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  const registry = createRegistry('monitor');
  const metrics = new RunMetrics(registry);
  registerStreamMetrics(registry, redis);
  const bus = new Bus(redis, config.AOETL_CONSUMER_NAME, logger);
  bus.consume({
    stream: STREAMS.events,
    group: GROUPS.monitor,
    schema: EventMessage,
    handler: async (m) => metrics.record(m),
  });

  // Trims the streams, never past an entry some group has not acknowledged (see docs/adr/0002).
  const trimming = new AbortController();
  const trimLoop = (async () => {
    while (!trimming.signal.aborted) {
      await sleep(config.AOETL_TRIM_EVERY_MS, trimming.signal);
      for (const stream of [STREAMS.requests, STREAMS.tasks, STREAMS.events]) {
        try {
          const removed = await trimAcknowledged(redis, stream);
          if (removed > 0) logger.debug({ stream, removed }, 'stream trimmed');
        } catch (err) {
          logger.warn({ err, stream }, 'trim failed');
        }
      }
    }
  })();

  const ops = await startOpsServer({
    host: config.AOETL_HTTP_HOST,
    port: config.AOETL_METRICS_PORT,
    registry,
    logger,
    checks: { redis: async () => void (await redis.ping()) },
  });
  const dashboard = buildDashboard(metrics, config.AOETL_AGENT_STALE_MS, logger);
  if (config.AOETL_OIDC_ISSUER && config.AOETL_OIDC_AUDIENCE) {
    const auth = {
      issuers: [config.AOETL_OIDC_ISSUER],
      audience: config.AOETL_OIDC_AUDIENCE,
      ...(config.AOETL_OIDC_CA_FILE ? { caFile: config.AOETL_OIDC_CA_FILE } : {}),
    };
    await dashboard.register(async (admin) => deadLetterRoutes(admin, { redis, auth }));
  }
  await dashboard.listen({ host: config.AOETL_HTTP_HOST, port: config.AOETL_HTTP_PORT });

  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'shutting down after error');
    else logger.info({ signal }, 'shutting down');
    trimming.abort();
    await trimLoop;
    await dashboard.close();
    await bus.close();
    await ops.close();
    redis.disconnect();
  });
}

main().catch((err: unknown) => {
  createLogger({ name: 'monitor' }).fatal({ err }, 'failed to start');
  process.exit(1);
});
