import './tracing.js';
import { Bus, busPreviewSandbox, connectRedis, redisSettings } from '@aoetl/bus';
import { llmMetrics, modelPlannerFrom, storedPlanCache } from '@aoetl/llm';
import { Counter, registerSecret, startService } from '@aoetl/observability';
import { appRoleVault, parseTenantScope } from '@aoetl/secrets';
import { Store, assertSchemaReady, createPool, runOutboxRelay } from '@aoetl/store';
import type { WriteMode } from '@aoetl/contracts';
import { buildApp } from './app.js';
import { GatewayConfig } from './config.js';
import { governanceFrom } from './governance.js';

void startService({
  name: 'agent-gateway',
  config: GatewayConfig,
  async start({ config, logger, registry }) {
    const pool = createPool({ url: config.AOETL_DATABASE_URL, password: config.AOETL_DATABASE_PASSWORD, applicationName: 'agent-gateway' });
    const store = new Store(pool, 'agent-gateway');
    const redis = connectRedis(redisSettings(config));
    redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    const bus = new Bus(redis, 'agent-gateway', logger);
    const relayed = new Counter({ name: 'aoetl_outbox_relayed_total', help: 'Outbox messages published', registers: [registry] });

    const governance = governanceFrom(config, logger);
    const previews = busPreviewSandbox(redis);
    // The model planner for previews (docs/adr/0006-model-planner.md): the same settings and checks as the orchestrator's.
    const plannerMetrics = llmMetrics(registry);
    const vault = appRoleVault(config, { logger: logger.child({ component: 'vault' }), actor: 'agent-gateway' });
    const model = await modelPlannerFrom({
      settings: config,
      readKv: vault ? async (path: string) => (await vault.readKv(path)).data : null,
      spend: store.llmPlans,
      cache: storedPlanCache(store.llmPlans),
      dryRun: previews,
      metrics: plannerMetrics,
      onSecret: registerSecret,
    });
    vault?.close();
    if (model.planner) logger.info({ model: model.planner.model }, 'model planner offered for previews');
    else logger.info({ why: model.why }, 'model planner not offered; previews plan offline');
    const app = await buildApp({
      store,
      governance,
      previews,
      modelPlanner: model.planner,
      defaultPlanner: config.AOETL_LLM_DEFAULT_PLANNER,
      plannerMetrics,
      logger,
      bodyLimit: config.AOETL_BODY_LIMIT_BYTES,
      rateLimitPerMinute: config.AOETL_RATE_LIMIT_PER_MINUTE,
      approvalRequiredModes: config.AOETL_APPROVAL_REQUIRED_MODES.split(',').filter(Boolean) as WriteMode[],
      ssePollMs: config.AOETL_SSE_POLL_MS,
      tenantScope: parseTenantScope(config.AOETL_TENANT_VAULT_ROLES, config.AOETL_TENANT_DB_HOSTS),
      runQuota: { maxQueued: config.AOETL_TENANT_MAX_QUEUED_RUNS, maxInFlight: config.AOETL_TENANT_MAX_IN_FLIGHT_RUNS },
      sseStreamsPerIdentity: config.AOETL_SSE_MAX_STREAMS_PER_IDENTITY,
      sseStreamsPerTenant: config.AOETL_SSE_MAX_STREAMS_PER_TENANT,
      expensiveRateLimitPerMinute: config.AOETL_EXPENSIVE_RATE_LIMIT_PER_MINUTE,
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

    return {
      api: app,
      checks: { postgres: () => store.ping(), schema: () => assertSchemaReady(pool), redis: async () => void (await redis.ping()) },
      async stop() {
        relay.abort();
        await relayLoop;
        await bus.close();
        redis.disconnect();
        governance?.close();
        await store.close();
      },
    };
  },
});
