import './tracing.js';
import { hostname } from 'node:os';
import { Bus, connectRedis, redisSettings } from '@aoetl/bus';
import { GROUPS, PreviewRequested, STREAMS, TaskMessage, envelope } from '@aoetl/contracts';
import { commitRun, loadTaskChunk } from '@aoetl/etl';
import { registerSecret, startService } from '@aoetl/observability';
import { parseTenantScope } from '@aoetl/secrets';
import { EtlAgentConfig, sandboxSettings } from './config.js';
import { SandboxTransformRunner, createSandboxDriver } from './sandbox-runner.js';
import { CredentialEvents } from './credential-events.js';
import { deadLetterHandler, taskHandler } from './task-handler.js';
import { previewHandler } from './preview-handler.js';
import { scopedSteps } from './tenant-scope.js';
import { secretStoreFrom } from './vault-auth.js';
import { agentIdentity } from './identity.js';

void startService({
  name: 'etl-agent',
  config: EtlAgentConfig,
  graceMs: 30_000,
  async start({ config, logger }) {
    const agentId = `${hostname()}/${config.AOETL_CONSUMER_NAME}`;
    const credentialEvents = new CredentialEvents(logger);
    const secrets = secretStoreFrom(config, {
      logger: logger.child({ component: 'vault' }),
      actor: agentId,
      onSecret: registerSecret,
      onAudit: credentialEvents.sink,
    });
    const sandbox = await createSandboxDriver(sandboxSettings(config), logger.child({ component: 'sandbox' }));

    const redis = connectRedis(redisSettings(config));
    redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    const bus = new Bus(redis, config.AOETL_CONSUMER_NAME, logger);
    const publish = (stream: string, message: { type: string }) => bus.publish(stream, message);
    credentialEvents.attach(publish);

    const runner = new SandboxTransformRunner(sandbox);
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
        steps: scopedSteps({ loadChunk: loadTaskChunk, commitRun }, parseTenantScope(config.AOETL_TENANT_VAULT_ROLES, config.AOETL_TENANT_DB_HOSTS)),
        secrets,
        runner,
        dbCaFile: config.AOETL_DB_CA_FILE,
      }),
    });

    // Previews (docs/adr/0005-preview.md): inline rows only, no credentials; one reply entry per preview.
    bus.consume({
      stream: STREAMS.previews,
      group: GROUPS.etlAgent,
      schema: PreviewRequested,
      count: 1,
      claimIdleMs: 30_000,
      maxDeliveries: 2,
      handler: previewHandler({
        agentId,
        logger,
        preview: (req) => runner.preview(req),
        async reply(stream, message, ttlSeconds) {
          await bus.publish(stream, message);
          await redis.expire(stream, ttlSeconds);
        },
      }),
    });

    const settings = sandboxSettings(config);
    const where = settings.driver === 'docker' ? `docker/${settings.runtime}` : `kubernetes/${settings.runtimeClassName ?? 'default'}`;
    const identity = agentIdentity(config, secrets, logger);
    const beat = async () =>
      publish(STREAMS.events, envelope('agent.heartbeat', { agentId, service: 'etl-agent', sandbox: where, identity: await identity() }, { requestId: agentId })).catch(
        (err: unknown) => logger.warn({ err }, 'heartbeat failed'),
      );
    void beat();
    const heartbeat = setInterval(() => void beat(), config.AOETL_HEARTBEAT_MS);

    return {
      checks: { redis: async () => void (await redis.ping()), vault: () => secrets.ping() },
      async stop() {
        clearInterval(heartbeat);
        await bus.close();
        await sandbox.close();
        // Credentials still held (a task cut short) die with the agent.
        await secrets.revokeOutstanding?.();
        secrets.close();
        redis.disconnect();
      },
    };
  },
});
