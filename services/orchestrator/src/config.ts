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
});
export type OrchestratorConfig = Static<typeof OrchestratorConfig>;
