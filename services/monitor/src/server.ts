import './tracing.js';
import { aoetlAuth } from '@aoetl/auth';
import { Bus, StreamAdmin, connectRedis, redisSettings } from '@aoetl/bus';
import { EventMessage, GROUPS, STREAMS } from '@aoetl/contracts';
import { problems } from '@aoetl/http';
import { startService } from '@aoetl/observability';
import { MonitorConfig } from './config.js';
import { createDashboardApp } from './dashboard/index.js';
import { deadLetterRoutes } from './deadletters.js';
import { RunMetrics } from './run-metrics.js';
import { registerStreamMetrics } from './stream-metrics.js';
import { trimLoop } from './trim-loop.js';
import { startQuarantine } from './quarantine.js';
import { quarantineRoutes } from './quarantine-routes.js';

void startService({
  name: 'monitor',
  config: MonitorConfig,
  async start({ config, logger, registry }) {
    const redis = connectRedis(redisSettings(config));
    redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    const admin = new StreamAdmin(redis);
    const metrics = new RunMetrics(registry);
    registerStreamMetrics(registry, admin, admin);
    const bus = new Bus(redis, config.AOETL_CONSUMER_NAME, logger);
    const quarantine = startQuarantine(config, { logger, registry, bus, agentStaleMs: config.AOETL_AGENT_STALE_MS });
    bus.consume({
      stream: STREAMS.events,
      group: GROUPS.monitor,
      schema: EventMessage,
      handler: async (m) => {
        await quarantine?.onEvent(m);
        metrics.record(m);
      },
    });

    // Trims the streams, never past an entry some group has not acknowledged (see docs/adr/0002).
    const trimming = new AbortController();
    const trimmed = trimLoop(admin, { everyMs: config.AOETL_TRIM_EVERY_MS, signal: trimming.signal, logger });

    const people = await createDashboardApp({ config, admin, logger });
    const dashboard = people.app;
    if (config.AOETL_OIDC_ISSUER && config.AOETL_OIDC_AUDIENCE) {
      const auth = {
        issuers: [config.AOETL_OIDC_ISSUER],
        audience: config.AOETL_OIDC_AUDIENCE,
        ...(config.AOETL_OIDC_CA_FILE ? { caFile: config.AOETL_OIDC_CA_FILE } : {}),
      };
      await dashboard.register(async (routes) => {
        await routes.register(problems, { serviceName: 'monitor' });
        await routes.register(aoetlAuth, auth);
        await deadLetterRoutes(routes, { deadLetters: admin });
        if (quarantine) {
          const { AOETL_QUARANTINE_THRESHOLD: threshold, AOETL_QUARANTINE_WINDOW_MS: windowMs } = config;
          await quarantineRoutes(routes, { quarantine: quarantine.service, threshold, windowMs });
        }
      });
    }

    return {
      api: dashboard,
      checks: { redis: async () => void (await redis.ping()), ...quarantine?.checks },
      async stop() {
        trimming.abort();
        await trimmed;
        await people.stop();
        await bus.close();
        await quarantine?.stop();
        redis.disconnect();
      },
    };
  },
});
