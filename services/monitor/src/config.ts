import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, Path, Port, Secret } from '@aoetl/config';

export const MonitorConfig = Type.Object({
  ...CommonConfig,
  AOETL_HTTP_PORT: Port,
  AOETL_CONSUMER_NAME: Type.String({ minLength: 1, default: 'monitor-1' }),
  AOETL_AGENT_STALE_MS: Type.Integer({ minimum: 1000, default: 30_000 }),
  /** OIDC settings for the admin routes (dead letters); without them the admin routes are off. */
  AOETL_OIDC_ISSUER: Type.Optional(Type.String({ pattern: '^https://' })),
  AOETL_OIDC_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_OIDC_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_TRIM_EVERY_MS: Type.Integer({ minimum: 100, default: 60_000 }),
  /**
   * The dashboard for people (docs/operations/monitor-dashboard.md): its public base URL (the OIDC redirect URI is
   * <url>/auth/callback; https makes the cookies Secure). Without it the dashboard is off. With it, the OIDC
   * settings above, the session secret and the control database (read-only role) are required.
   */
  AOETL_DASHBOARD_URL: Type.Optional(Type.String({ pattern: '^https?://[^/]+$' })),
  AOETL_DASHBOARD_CLIENT_ID: Type.String({ minLength: 1, default: 'aoetl-dashboard' }),
  /** RFC 8707 resource the dashboard asks its tokens for (the local issuer: urn:aoetl-api); empty = none. */
  AOETL_DASHBOARD_RESOURCE: Type.Optional(Type.String({ minLength: 1 })),
  /** Encrypts and authenticates the session cookies; every replica needs the same value. */
  AOETL_SESSION_SECRET: Type.Optional(Secret(Type.String({ minLength: 32 }))),
  AOETL_SESSION_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 28_800 }),
  /** The control database, read through the monitor's read-only role (aoetl_monitor). */
  AOETL_DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  AOETL_DATABASE_PASSWORD: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  /**
   * Quarantine (docs/operations/quarantine.md). Its Redis ACL user (ACL SETUSER, CLIENT KILL, the agents' pending
   * entries, `aoetl:quarantine:*`); without it the quarantine is off.
   */
  AOETL_QUARANTINE_REDIS_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_QUARANTINE_REDIS_PASSWORD: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  /** Violations within the window that quarantine an agent; 0: only admins quarantine. */
  AOETL_QUARANTINE_THRESHOLD: Type.Integer({ minimum: 0, maximum: 10_000, default: 5 }),
  AOETL_QUARANTINE_WINDOW_MS: Type.Integer({ minimum: 1000, default: 600_000 }),
  /** Redis users a quarantine may switch off (a regular expression); an agent reporting any other user is refused. */
  AOETL_QUARANTINE_REDIS_USERS: Type.String({ minLength: 1, default: '^etl-agent(-[a-z0-9]+)?$' }),
  /** How often failed isolation steps are retried (and switched-off users checked). */
  AOETL_QUARANTINE_RECONCILE_MS: Type.Integer({ minimum: 1000, default: 15_000 }),
  /** In Kubernetes: label the agent's pod and delete it (needs the chart's monitor Role on pods). */
  AOETL_QUARANTINE_KUBERNETES: Type.Boolean({ default: false }),
  AOETL_QUARANTINE_POD_LABEL: Type.String({ pattern: '^([a-z0-9.-]+/)?[A-Za-z0-9_.-]{1,63}$', default: 'aoetl.io/quarantine' }),
  /** The monitor's own Vault identity (AppRole, policy `monitor`: revoke a token by its accessor); without it the Vault step is skipped. */
  AOETL_VAULT_ADDR: Type.Optional(Type.String({ pattern: '^https://' })),
  AOETL_VAULT_CACERT: Type.Optional(Path),
  AOETL_VAULT_ROLE_ID: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_VAULT_SECRET_ID: Type.Optional(Secret(Type.String({ minLength: 1 }))),
});
export type MonitorConfig = Static<typeof MonitorConfig>;
