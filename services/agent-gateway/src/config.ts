import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, DatabaseConfig, LlmConfig, Port, Secret } from '@aoetl/config';

export const GatewayConfig = Type.Object({
  ...CommonConfig,
  ...DatabaseConfig,
  ...LlmConfig,
  AOETL_HTTP_PORT: Port,
  AOETL_OIDC_ISSUER: Type.String({ pattern: '^https://' }),
  AOETL_OIDC_AUDIENCE: Type.String({ minLength: 1 }),
  AOETL_OIDC_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 256 * 1024 }),
  AOETL_OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 200 }),
  /** Requests per identity per minute (429 beyond). */
  AOETL_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 1200 }),
  /** Comma-separated target write modes whose runs always need an approval (policy), e.g. `replace`. */
  AOETL_APPROVAL_REQUIRED_MODES: Type.String({ pattern: '^((append|merge|replace)(,(append|merge|replace))*)?$', default: '' }),
  /** How often a run's event stream looks for new steps. */
  AOETL_SSE_POLL_MS: Type.Integer({ minimum: 50, default: 500 }),
  /**
   * Vault role paths a tenant's connections may name: comma-separated templates, `{tenant}` replaced, a trailing `*`
   * matching the rest of one path segment (e.g. `database/creds/{tenant}-*`). Empty: any role (no tenant scope).
   */
  AOETL_TENANT_VAULT_ROLES: Type.String({ default: '' }),
  /** Database hosts per tenant: `tenant=host[:port]|host…;tenant2=…`. Empty: any host. The etl-agent checks the same. */
  AOETL_TENANT_DB_HOSTS: Type.String({ default: '' }),
  /** Per-tenant run quota checked at submit: runs queued and in flight (planning, running); 429 beyond. */
  AOETL_TENANT_MAX_QUEUED_RUNS: Type.Integer({ minimum: 1, default: 100 }),
  AOETL_TENANT_MAX_IN_FLIGHT_RUNS: Type.Integer({ minimum: 1, default: 20 }),
  /** Open run event streams per identity and per tenant (429 + Retry-After beyond). */
  AOETL_SSE_MAX_STREAMS_PER_IDENTITY: Type.Integer({ minimum: 1, default: 5 }),
  AOETL_SSE_MAX_STREAMS_PER_TENANT: Type.Integer({ minimum: 1, default: 50 }),
  /** Requests per identity per minute to expensive routes (event streams, artifact diffs). */
  AOETL_EXPENSIVE_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 60 }),
  /** Load shedding: 503 while the event loop lags more than this. */
  AOETL_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 10, default: 1000 }),
  /** Vault (AppRole) for audit verify (transit) and erasure (target credentials, HMAC key); both answer 503 without it. */
  AOETL_VAULT_ADDR: Type.Optional(Type.String({ pattern: '^https://' })),
  AOETL_VAULT_CACERT: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_VAULT_ROLE_ID: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_VAULT_SECRET_ID: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  /** Vault-side tenant scope for erasure's target credentials (the etl-agent's setting); empty: off. */
  AOETL_VAULT_TENANT_TOKEN_ROLE: Type.String({ pattern: '^([a-z0-9][a-z0-9_-]{0,100})?$', default: '' }),
  /** CA of the target databases' server certificates (erasure). */
  AOETL_DB_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Where the orchestrator exports the signed ledger checkpoints (JSON lines). */
  AOETL_AUDIT_CHECKPOINT_FILE: Type.String({ minLength: 1, default: '/var/lib/aoetl/audit/checkpoints.jsonl' }),
  AOETL_AUDIT_SIGNING_KEY: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: 'aoetl-signing' }),
  /** KV v2 path (mount `secret`) of the erasure HMAC key (field `key`). */
  AOETL_ERASURE_HMAC_KV_PATH: Type.String({ minLength: 1, default: 'aoetl-governance/erasure-hmac' }),
});
export type GatewayConfig = Static<typeof GatewayConfig>;
