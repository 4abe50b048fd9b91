import closeWithGrace from 'close-with-grace';
import { Bus, connectRedis, redisSettings } from '@aoetl/bus';
import { loadConfig, redactConfig, secretValues } from '@aoetl/config';
import { createLogger, createRegistry, registerSecret, startOpsServer, Counter } from '@aoetl/observability';
import { Store, createPool, runOutboxRelay } from '@aoetl/store';
import type { WriteMode } from '@aoetl/contracts';
import { buildApp } from './app.js';
import { GatewayConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig(GatewayConfig);
  secretValues(GatewayConfig, config).forEach(registerSecret);
  const logger = createLogger({ name: 'agent-gateway', level: config.AOETL_LOG_LEVEL });
  logger.info({ config: redactConfig(GatewayConfig, config) }, 'starting');

  const pool = createPool({ url: config.AOETL_DATABASE_URL, password: config.AOETL_DATABASE_PASSWORD, applicationName: 'agent-gateway' });
  const store = new Store(pool, 'agent-gateway');
  const redis = connectRedis(redisSettings(config));
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  const bus = new Bus(redis, 'agent-gateway', logger);

  const registry = createRegistry('agent-gateway');
  const relayed = new Counter({ name: 'aoetl_outbox_relayed_total', help: 'Outbox messages published', registers: [registry] });

  const app = await buildApp({
    store,
    logger,
    bodyLimit: config.AOETL_BODY_LIMIT_BYTES,
    rateLimitPerMinute: config.AOETL_RATE_LIMIT_PER_MINUTE,
    approvalRequiredModes: config.AOETL_APPROVAL_REQUIRED_MODES.split(',').filter(Boolean) as WriteMode[],
    ssePollMs: config.AOETL_SSE_POLL_MS,
    maxEventLoopDelayMs: config.AOETL_MAX_EVENT_LOOP_DELAY_MS,
    auth: {
      issuers: [config.AOETL_OIDC_ISSUER],
      audience: config.AOETL_OIDC_AUDIENCE,
      ...(config.AOETL_OIDC_CA_FILE ? { caFile: config.AOETL_OIDC_CA_FILE } : {}),
    },
  });

  // Outbox relay: publishes committed run requests; a crash between XADD and marking sent republishes (harmless).
  const relay = new AbortController();
  const relayLoop = runOutboxRelay(store.outbox, (stream, message) => bus.publish(stream, message), {
    pollMs: config.AOETL_OUTBOX_POLL_MS,
    signal: relay.signal,
    logger,
    onRelayed: (n) => relayed.inc(n),
  });

  const ops = await startOpsServer({
    host: config.AOETL_HTTP_HOST,
    port: config.AOETL_METRICS_PORT,
    registry,
    logger,
    checks: { postgres: () => store.ping(), redis: async () => void (await redis.ping()) },
  });
  await app.listen({ host: config.AOETL_HTTP_HOST, port: config.AOETL_HTTP_PORT });

  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'shutting down after error');
    else logger.info({ signal }, 'shutting down');
    await app.close();
    relay.abort();
    await relayLoop;
    await ops.close();
    await bus.close();
    redis.disconnect();
    await store.close();
  });
}

main().catch((err: unknown) => {
  // Config errors list every bad variable in one message; nothing secret is in it.
  const logger = createLogger({ name: 'agent-gateway' });
  logger.fatal({ err }, 'failed to start');
  process.exit(1);
});
