import './tracing.js';
import { Bus, busPreviewSandbox, connectRedis, redisSettings } from '@aoetl/bus';
import { EventMessage, GROUPS, RunRequested, STREAMS } from '@aoetl/contracts';
import { registerSecret, startService } from '@aoetl/observability';
import { Store, assertSchemaReady, createPool, runOutboxRelay } from '@aoetl/store';
import { sleep } from '@aoetl/timing';
import { llmMetrics, modelPlannerFrom, storedPlanCache } from '@aoetl/llm';
import { ModelTransformPlanner, RunMachine } from '@aoetl/runs';
import { appRoleVault } from '@aoetl/secrets';
import { OrchestratorConfig } from './config.js';
import { credentialAuditHandler } from './credential-audit.js';
import { quarantineLedgerEntry } from '@aoetl/audit';
import { startGovernance } from './governance.js';

void startService({
  name: 'orchestrator',
  config: OrchestratorConfig,
  async start({ config, logger, registry }) {
    const pool = createPool({ url: config.AOETL_DATABASE_URL, password: config.AOETL_DATABASE_PASSWORD, applicationName: 'orchestrator' });
    const store = new Store(pool, 'orchestrator');
    const redis = connectRedis(redisSettings(config));
    redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    const bus = new Bus(redis, config.AOETL_CONSUMER_NAME, logger);

    // The model planner (docs/adr/0006-model-planner.md): offered when a model endpoint is configured and its API key
    // is in Vault KV; its code is dry-run by an etl-agent through the previews stream.
    const metrics = llmMetrics(registry);
    const vault = appRoleVault(config, { logger: logger.child({ component: 'vault' }), actor: 'orchestrator' });
    const model = await modelPlannerFrom({
      settings: config,
      readKv: vault ? async (path: string) => (await vault.readKv(path)).data : null,
      spend: store.llmPlans,
      cache: storedPlanCache(store.llmPlans),
      dryRun: busPreviewSandbox(redis, { limits: { timeoutMs: 10_000, memoryMb: 256, maxOutputBytes: 4 * 1024 * 1024 } }),
      metrics,
      onSecret: registerSecret,
    });
    vault?.close();
    if (model.planner) logger.info({ model: model.planner.model, defaultPlanner: config.AOETL_LLM_DEFAULT_PLANNER }, 'model planner offered');
    else logger.info({ why: model.why }, 'model planner not offered; instructions are planned offline');
    const transformPlanner = new ModelTransformPlanner({ model: model.planner, defaultPlanner: config.AOETL_LLM_DEFAULT_PLANNER, metrics, logger });

    const machine = new RunMachine(
      store,
      {
        limits: {
          timeoutMs: config.AOETL_TASK_TIMEOUT_MS,
          memoryMb: config.AOETL_TASK_MEMORY_MB,
          maxOutputBytes: config.AOETL_TASK_MAX_OUTPUT_BYTES,
        },
        defaultChunks: config.AOETL_DEFAULT_CHUNKS,
        transformPlanner,
        maxChunksInFlightPerTenant: config.AOETL_TENANT_MAX_CHUNKS_IN_FLIGHT,
        cpuBudgetMs: config.AOETL_RUN_CPU_BUDGET_SECONDS * 1000,
      },
      logger,
    );

    const onDeadLetter = (raw: string, reason: string) => machine.onDeadLetter(raw, reason);
    bus.consume({ stream: STREAMS.requests, group: GROUPS.orchestrator, schema: RunRequested, handler: (m) => machine.onRunRequested(m), onDeadLetter });
    const onCredentialAudit = credentialAuditHandler(store, logger);
    bus.consume({
      stream: STREAMS.events,
      group: GROUPS.orchestrator,
      schema: EventMessage,
      handler: async (m) => {
        if (m.type === 'credential.audit') return onCredentialAudit(m);
        // The monitor's quarantine actions go to the ledger's platform chain (docs/operations/quarantine.md).
        if (m.type === 'agent.quarantine') return void (await store.ledger.appendOnce(quarantineLedgerEntry(m)));
        return machine.onEvent(m);
      },
      onDeadLetter,
    });

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

    const governanceLoops = startGovernance(config, store, logger, relay.signal);

    return {
      checks: { postgres: () => store.ping(), schema: () => assertSchemaReady(pool), redis: async () => void (await redis.ping()) },
      async stop() {
        relay.abort();
        await Promise.all([relayLoop, reconcileLoop, governanceLoops]);
        await bus.close();
        redis.disconnect();
        await store.close();
      },
    };
  },
});
