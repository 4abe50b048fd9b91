import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, DatabaseConfig, LlmConfig, Secret } from '@aoetl/config';

export const OrchestratorConfig = Type.Object({
  ...CommonConfig,
  ...DatabaseConfig,
  ...LlmConfig,
  AOETL_CONSUMER_NAME: Type.String({ minLength: 1, default: 'orchestrator-1' }),
  AOETL_OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 200 }),
  AOETL_TASK_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 600_000 }),
  AOETL_TASK_MEMORY_MB: Type.Integer({ minimum: 64, default: 512 }),
  AOETL_TASK_MAX_OUTPUT_BYTES: Type.Integer({ minimum: 1024, default: 4 * 1024 ** 3 }),
  AOETL_DEFAULT_CHUNKS: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  /**
   * Fair dispatch: chunk tasks of one tenant in flight at once (sent, not yet staged); the tenant's other chunks wait,
   * oldest run first, so one tenant's queue never stands in front of another tenant's runs.
   */
  AOETL_TENANT_MAX_CHUNKS_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 1024, default: 8 }),
  /** Sandbox CPU seconds one run may use over all its chunks; past it the run fails with cpu_budget_exceeded. */
  AOETL_RUN_CPU_BUDGET_SECONDS: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 3600 }),
  AOETL_RECONCILE_EVERY_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** A queued or planning run untouched this long is planned again (its request was lost or its planner died). */
  AOETL_RECONCILE_PLANNING_MS: Type.Integer({ minimum: 100, default: 30_000 }),
  /** A running run untouched this long gets its missing tasks dispatched again (tasks are idempotent). */
  AOETL_RECONCILE_RUNNING_MS: Type.Integer({ minimum: 1000, default: 900_000 }),
  /** Days a tenant's finished runs (steps, chunks, approvals) and unused old artifacts are kept. */
  AOETL_RETENTION_DAYS: Type.Integer({ minimum: 1, default: 90 }),
  /** Per-tenant overrides: `acme=7,globex=30`. */
  AOETL_RETENTION_TENANT_DAYS: Type.String({ pattern: '^([^=,\\s]+=[0-9]{1,5}(,[^=,\\s]+=[0-9]{1,5})*)?$', default: '' }),
  AOETL_RETENTION_EVERY_MS: Type.Integer({ minimum: 1000, default: 3_600_000 }),
  /** Vault (AppRole) for signing ledger checkpoints with transit; without it no checkpoints are signed. */
  AOETL_VAULT_ADDR: Type.Optional(Type.String({ pattern: '^https://' })),
  AOETL_VAULT_CACERT: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_VAULT_ROLE_ID: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_VAULT_SECRET_ID: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_AUDIT_SIGNING_KEY: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: 'aoetl-signing' }),
  /** Where signed checkpoints are exported (JSON lines, appended): outside the database, read by audit verify. */
  AOETL_AUDIT_CHECKPOINT_FILE: Type.String({ minLength: 1, default: '/var/lib/aoetl/audit/checkpoints.jsonl' }),
  AOETL_AUDIT_CHECKPOINT_EVERY_MS: Type.Integer({ minimum: 1000, default: 60_000 }),
});
export type OrchestratorConfig = Static<typeof OrchestratorConfig>;
