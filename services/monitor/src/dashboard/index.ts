import { dirname, join } from 'node:path';
import Fastify from 'fastify';
import type { StreamAdmin } from '@aoetl/bus';
import { ConfigError } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import { createPool } from '@aoetl/store';
import type { MonitorConfig } from '../config.js';
import { AgentsView } from './agents.js';
import { RunFeed } from './live.js';
import { OidcLogin } from './oidc.js';
import { DashboardReads } from './read-model.js';
import { dashboardRoutes } from './routes.js';

export { dashboardRoutes, SESSION_COOKIE, LOGIN_COOKIE, type DashboardOptions } from './routes.js';
export { CookieSealer, type Session } from './session.js';

/** The settings the dashboard needs besides its URL; named in one error when some are missing. */
function required(config: MonitorConfig) {
  const missing = (
    [
      ['AOETL_OIDC_ISSUER', config.AOETL_OIDC_ISSUER],
      ['AOETL_OIDC_AUDIENCE', config.AOETL_OIDC_AUDIENCE],
      ['AOETL_SESSION_SECRET', config.AOETL_SESSION_SECRET],
      ['AOETL_DATABASE_URL', config.AOETL_DATABASE_URL],
      ['AOETL_DATABASE_PASSWORD', config.AOETL_DATABASE_PASSWORD],
    ] as const
  )
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (missing.length > 0) throw new ConfigError(`AOETL_DASHBOARD_URL is set, so the dashboard needs ${missing.join(', ')}`);
  return {
    issuer: config.AOETL_OIDC_ISSUER!,
    audience: config.AOETL_OIDC_AUDIENCE!,
    sessionSecret: config.AOETL_SESSION_SECRET!,
    databaseUrl: config.AOETL_DATABASE_URL!,
    databasePassword: config.AOETL_DATABASE_PASSWORD!,
  };
}

/**
 * The monitor's HTTP app: with AOETL_DASHBOARD_URL set, the dashboard for people in its own context (login, pages,
 * live feed); `stop` ends what the dashboard runs. The caller adds the admin API routes.
 */
export async function createDashboardApp(deps: { config: MonitorConfig; admin: StreamAdmin; logger: Logger }) {
  const { config, admin, logger } = deps;
  const app = Fastify({ loggerInstance: logger.child({ component: 'dashboard' }), disableRequestLogging: true });
  if (!config.AOETL_DASHBOARD_URL) return { app, stop: async () => undefined };
  const s = required(config);
  const pool = createPool({ url: s.databaseUrl, password: s.databasePassword, max: 5, applicationName: 'aoetl-monitor' });
  pool.on('error', (err) => logger.warn({ err }, 'dashboard database pool error'));
  const reads = new DashboardReads(pool);
  const feed = new RunFeed(reads, logger.child({ component: 'dashboard-live' }));
  const agents = new AgentsView(admin, { staleMs: config.AOETL_AGENT_STALE_MS, logger: logger.child({ component: 'dashboard-agents' }) });
  const login = new OidcLogin({
    issuer: s.issuer,
    audience: s.audience,
    clientId: config.AOETL_DASHBOARD_CLIENT_ID,
    ...(config.AOETL_DASHBOARD_RESOURCE ? { resource: config.AOETL_DASHBOARD_RESOURCE } : {}),
    ...(config.AOETL_OIDC_CA_FILE ? { caFile: config.AOETL_OIDC_CA_FILE } : {}),
  });
  const uplot = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  await app.register(dashboardRoutes, {
    baseUrl: config.AOETL_DASHBOARD_URL,
    sessionSecret: s.sessionSecret,
    sessionTtlSeconds: config.AOETL_SESSION_TTL_SECONDS,
    login,
    reads,
    feed,
    agents,
    streams: admin,
    publicDir: join(__dirname, '..', '..', 'public'),
    chartJs: join(uplot, 'uPlot.iife.min.js'),
    chartCss: join(uplot, 'uPlot.min.css'),
  });
  agents.start();
  return {
    app,
    async stop() {
      feed.close();
      await agents.stop();
      await login.close();
      await pool.end();
    },
  };
}
