import { RedisAccessControl, connectRedis, redisSettings, type Bus } from '@aoetl/bus';
import { ConfigError, GROUPS, STREAMS, type EventMessage } from '@aoetl/contracts';
import type { Logger, Registry } from '@aoetl/observability';
import { KubernetesPodIsolation, QuarantineService, type QuarantineRecord, type QuarantineState, type SeenIdentity } from '@aoetl/quarantine';
import { appRoleVault } from '@aoetl/secrets';
import { sleep } from '@aoetl/timing';
import type { MonitorConfig } from './config.js';

export interface RunningQuarantine {
  service: QuarantineService;
  onEvent(msg: EventMessage): Promise<void>;
  checks: Record<string, () => Promise<void>>;
  stop(): Promise<void>;
}

/**
 * The monitor's quarantine (docs/operations/quarantine.md), or null when its Redis user is not configured: a
 * connection as the dedicated quarantine ACL user, the monitor's own Vault identity when set, the Kubernetes API
 * when asked, and a loop that retries failed isolation steps.
 */
export function startQuarantine(
  config: MonitorConfig,
  deps: { logger: Logger; registry: Registry; bus: Pick<Bus, 'publish'>; agentStaleMs: number },
): RunningQuarantine | null {
  const log = deps.logger.child({ component: 'quarantine' });
  const { AOETL_QUARANTINE_REDIS_USERNAME: username, AOETL_QUARANTINE_REDIS_PASSWORD: password } = config;
  if (!username || !password) {
    if (username || password) throw new ConfigError('invalid configuration: AOETL_QUARANTINE_REDIS_USERNAME and AOETL_QUARANTINE_REDIS_PASSWORD go together');
    log.warn('quarantine off: AOETL_QUARANTINE_REDIS_USERNAME is not set');
    return null;
  }
  let allowedRedisUsers: RegExp;
  try {
    allowedRedisUsers = new RegExp(config.AOETL_QUARANTINE_REDIS_USERS);
  } catch {
    throw new ConfigError('invalid configuration: AOETL_QUARANTINE_REDIS_USERS is not a regular expression');
  }
  const redis = connectRedis({ ...redisSettings(config), username, password });
  redis.on('error', (err) => log.warn({ err }, 'quarantine redis connection error'));
  const access = new RedisAccessControl(redis);
  const vault = appRoleVault(config, { logger: log.child({ component: 'vault' }), actor: `monitor/${config.AOETL_CONSUMER_NAME}` });
  const state: QuarantineState = {
    countViolation: (...a) => access.countViolation(...a),
    violationCount: (...a) => access.violationCount(...a),
    clearViolations: (a) => access.clearViolations(a),
    saveIdentity: (a, s) => access.saveIdentity(a, s),
    identities: () => access.identities<SeenIdentity>(),
    claimRecord: (a, r) => access.claimRecord(a, r),
    saveRecord: (a, r) => access.saveRecord(a, r),
    deleteRecord: (a) => access.deleteRecord(a),
    records: () => access.records<QuarantineRecord>(),
  };
  const service = new QuarantineService(
    {
      redis: access,
      state,
      ...(vault ? { vault } : {}),
      ...(config.AOETL_QUARANTINE_KUBERNETES ? { pods: new KubernetesPodIsolation() } : {}),
      publishAudit: (m) => deps.bus.publish(STREAMS.events, m),
      registry: deps.registry,
      logger: deps.logger,
    },
    {
      threshold: config.AOETL_QUARANTINE_THRESHOLD,
      windowMs: config.AOETL_QUARANTINE_WINDOW_MS,
      workStreams: [
        { stream: STREAMS.tasks, group: GROUPS.etlAgent },
        { stream: STREAMS.previews, group: GROUPS.etlAgent },
      ],
      allowedRedisUsers,
      podLabel: config.AOETL_QUARANTINE_POD_LABEL,
      staleMs: deps.agentStaleMs,
    },
  );

  const stopping = new AbortController();
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      try {
        await service.reconcile();
      } catch (err) {
        log.warn({ err }, 'quarantine reconcile failed; retrying');
      }
      await sleep(config.AOETL_QUARANTINE_RECONCILE_MS, stopping.signal);
    }
  })();

  return {
    service,
    onEvent: (msg) => service.onEvent(msg),
    // Vault is not a readiness dependency: the dashboard and metrics work without it (the vault step then fails and is retried).
    checks: { 'redis-quarantine': async () => void (await redis.ping()) },
    async stop() {
      stopping.abort();
      await loop;
      vault?.close();
      redis.disconnect();
    },
  };
}
