import closeWithGrace from 'close-with-grace';
import { Bus, connectRedis, redisSettings, sleep } from '@aoetl/bus';
import { loadConfig, redactConfig, secretValues } from '@aoetl/config';
import { EventMessage, GROUPS, RunRequested, STREAMS } from '@aoetl/contracts';
import { createLogger, createRegistry, registerSecret, startOpsServer } from '@aoetl/observability';
import { Store, createPool, runOutboxRelay } from '@aoetl/store';
import { OrchestratorConfig } from './config.js';
import { RunMachine } from './run-machine.js';

async function main(): Promise<void> {
  const config = loadConfig(OrchestratorConfig);
  secretValues(OrchestratorConfig, config).forEach(registerSecret);
  const logger = createLogger({ name: 'orchestrator', level: config.AOETL_LOG_LEVEL });
  logger.info({ config: redactConfig(OrchestratorConfig, config) }, 'starting');

  const pool = createPool({ url: config.AOETL_DATABASE_URL, password: config.AOETL_DATABASE_PASSWORD, applicationName: 'orchestrator' });
  const store = new Store(pool, 'orchestrator');
  const redis = connectRedis(redisSettings(config));
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  const bus = new Bus(redis, config.AOETL_CONSUMER_NAME, logger);
  const machine = new RunMachine(
    store,
    {
      limits: {
        timeoutMs: config.AOETL_TASK_TIMEOUT_MS,
        memoryMb: config.AOETL_TASK_MEMORY_MB,
        maxOutputBytes: config.AOETL_TASK_MAX_OUTPUT_BYTES,
      },
      defaultChunks: config.AOETL_DEFAULT_CHUNKS,
    },
    logger,
  );

  const onDeadLetter = (raw: string, reason: string) => machine.onDeadLetter(raw, reason);
  bus.consume({ stream: STREAMS.requests, group: GROUPS.orchestrator, schema: RunRequested, handler: (m) => machine.onRunRequested(m), onDeadLetter });
  bus.consume({ stream: STREAMS.events, group: GROUPS.orchestrator, schema: EventMessage, handler: (m) => machine.onEvent(m), onDeadLetter });

  const relay = new AbortController();
  const relayLoop = runOutboxRelay(store.outbox, (stream, message) => bus.publish(stream, message), {
    pollMs: config.AOETL_OUTBOX_POLL_MS,
    signal: relay.signal,
    logger,
  });

  // Postgres is the system of record: runs in flight are resumed from it at start and whenever they idle.
  const reconcileLoop = (async () => {
    while (!relay.signal.aborted) {
      try {
        await machine.reconcile(config.AOETL_RECONCILE_PLANNING_MS, config.AOETL_RECONCILE_RUNNING_MS);
      } catch (err) {
        logger.warn({ err }, 'reconcile failed; retrying');
      }
      await sleep(config.AOETL_RECONCILE_EVERY_MS, relay.signal);
    }
  })();

  const ops = await startOpsServer({
    host: config.AOETL_HTTP_HOST,
    port: config.AOETL_METRICS_PORT,
    registry: createRegistry('orchestrator'),
    logger,
    checks: { postgres: () => store.ping(), redis: async () => void (await redis.ping()) },
  });

  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'shutting down after error');
    else logger.info({ signal }, 'shutting down');
    relay.abort();
    await Promise.all([relayLoop, reconcileLoop]);
    await bus.close();
    await ops.close();
    redis.disconnect();
    await store.close();
  });
}

main().catch((err: unknown) => {
  createLogger({ name: 'orchestrator' }).fatal({ err }, 'failed to start');
  process.exit(1);
});
