import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, Port } from '@aoetl/config';

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
});
export type MonitorConfig = Static<typeof MonitorConfig>;
