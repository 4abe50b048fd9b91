import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, Port, Secret } from '@aoetl/config';

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
});
export type MonitorConfig = Static<typeof MonitorConfig>;
