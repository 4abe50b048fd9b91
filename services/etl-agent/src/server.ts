import { hostname } from 'node:os';
import closeWithGrace from 'close-with-grace';
import { Bus, connectRedis, redisSettings } from '@aoetl/bus';
import { loadConfig, redactConfig, secretValues } from '@aoetl/config';
import { GROUPS, STREAMS, TaskMessage, envelope } from '@aoetl/contracts';
import { commitRun, loadChunk } from '@aoetl/etl';
import { createLogger, createRegistry, registerSecret, startOpsServer } from '@aoetl/observability';
import { DockerSandboxDriver, KubernetesSandboxDriver, kubernetesSandboxOptionsFromEnv, type SandboxDriver } from '@aoetl/sandbox';
import { VaultSecretStore } from '@aoetl/secrets';
import { EtlAgentConfig } from './config.js';
import { SandboxTransformRunner } from './sandbox-runner.js';
import { deadLetterHandler, taskHandler } from './task-handler.js';
import { secretStoreFrom } from './vault-auth.js';

async function main(): Promise<void> {
  const config = loadConfig(EtlAgentConfig);
  secretValues(EtlAgentConfig, config).forEach(registerSecret);
  const logger = createLogger({ name: 'etl-agent', level: config.AOETL_LOG_LEVEL });
  logger.info({ config: redactConfig(EtlAgentConfig, config) }, 'starting');
  const agentId = `${hostname()}/${config.AOETL_CONSUMER_NAME}`;

  const secrets = secretStoreFrom(config, {
    logger: logger.child({ component: 'vault' }),
    actor: agentId,
    onSecret: registerSecret,
  });
  // Docker: refuses to start when the configured runtime (gVisor by default) is not registered with the engine.
  // Kubernetes: one hardened pod per run in the sandbox namespace (no pool); pods of dead agents are reaped.
  const sandboxLimits = { memoryBytes: config.AOETL_SANDBOX_MEMORY_MB * 1024 * 1024 };
  const sandboxLog = logger.child({ component: 'sandbox' });
  let sandbox: SandboxDriver;
  if (config.AOETL_SANDBOX_DRIVER === 'kubernetes') {
    const k8s = new KubernetesSandboxDriver({ ...kubernetesSandboxOptionsFromEnv(process.env), limits: sandboxLimits, logger: sandboxLog });
    await k8s.reapOrphans();
    sandbox = k8s;
  } else {
    sandbox = await DockerSandboxDriver.create({
      image: config.AOETL_SANDBOX_IMAGE,
      runtime: config.AOETL_SANDBOX_RUNTIME,
      socketPath: config.AOETL_DOCKER_SOCKET,
      limits: sandboxLimits,
      pool: { size: config.AOETL_SANDBOX_POOL_SIZE },
      logger: sandboxLog,
    });
  }

  const redis = connectRedis(redisSettings(config));
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  const bus = new Bus(redis, config.AOETL_CONSUMER_NAME, logger);
  const publish = (stream: string, message: { type: string }) => bus.publish(stream, message);

  bus.consume({
    stream: STREAMS.tasks,
    group: GROUPS.etlAgent,
    schema: TaskMessage,
    count: 1,
    claimIdleMs: 60_000,
    // A poison task names its run: report the run's failure so it does not wait forever.
    onDeadLetter: deadLetterHandler({ agentId, publish }),
    handler: taskHandler({
      agentId,
      attempts: config.AOETL_TASK_ATTEMPTS,
      publish,
      logger,
      steps: { loadChunk, commitRun },
      secrets,
      runner: new SandboxTransformRunner(sandbox),
      dbCaFile: config.AOETL_DB_CA_FILE,
    }),
  });

  const beat = () =>
    publish(STREAMS.events, envelope('agent.heartbeat', { agentId, service: 'etl-agent' }, { requestId: agentId })).catch(
      (err: unknown) => logger.warn({ err }, 'heartbeat failed'),
    );
  void beat();
  const heartbeat = setInterval(() => void beat(), config.AOETL_HEARTBEAT_MS);

  const ops = await startOpsServer({
    host: config.AOETL_HTTP_HOST,
    port: config.AOETL_METRICS_PORT,
    registry: createRegistry('etl-agent'),
    logger,
    checks: { redis: async () => void (await redis.ping()), vault: () => secrets.ping() },
  });

  closeWithGrace({ delay: 30_000 }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'shutting down after error');
    else logger.info({ signal }, 'shutting down');
    clearInterval(heartbeat);
    await bus.close();
    await sandbox.close();
    // Credentials still held (a task cut short) die with the agent.
    if (secrets instanceof VaultSecretStore) await secrets.revokeOutstanding();
    secrets.close();
    await ops.close();
    redis.disconnect();
  });
}

main().catch((err: unknown) => {
  createLogger({ name: 'etl-agent' }).fatal({ err }, 'failed to start');
  process.exit(1);
});
