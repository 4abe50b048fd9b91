import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, DatabaseConfig } from '@aoetl/config';

export const OrchestratorConfig = Type.Object({
  ...CommonConfig,
  ...DatabaseConfig,
  AOETL_CONSUMER_NAME: Type.String({ minLength: 1, default: 'orchestrator-1' }),
  AOETL_OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 200 }),
  AOETL_TASK_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 600_000 }),
  AOETL_TASK_MEMORY_MB: Type.Integer({ minimum: 64, default: 512 }),
  AOETL_TASK_MAX_OUTPUT_BYTES: Type.Integer({ minimum: 1024, default: 4 * 1024 ** 3 }),
  AOETL_DEFAULT_CHUNKS: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  AOETL_RECONCILE_EVERY_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** A queued or planning run untouched this long is planned again (its request was lost or its planner died). */
  AOETL_RECONCILE_PLANNING_MS: Type.Integer({ minimum: 100, default: 30_000 }),
  /** A running run untouched this long gets its missing tasks dispatched again (tasks are idempotent). */
  AOETL_RECONCILE_RUNNING_MS: Type.Integer({ minimum: 1000, default: 900_000 }),
});
export type OrchestratorConfig = Static<typeof OrchestratorConfig>;
