import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, DatabaseConfig, Port } from '@aoetl/config';

export const GatewayConfig = Type.Object({
  ...CommonConfig,
  ...DatabaseConfig,
  AOETL_HTTP_PORT: Port,
  AOETL_OIDC_ISSUER: Type.String({ pattern: '^https://' }),
  AOETL_OIDC_AUDIENCE: Type.String({ minLength: 1 }),
  AOETL_OIDC_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 256 * 1024 }),
  AOETL_OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 200 }),
});
export type GatewayConfig = Static<typeof GatewayConfig>;
