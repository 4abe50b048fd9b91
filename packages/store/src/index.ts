export { createPool, type DatabaseConfig } from './db.js';
export { Store } from './store.js';
export { MAX_PAGE_SIZE, type Page, type PageRequest } from './pages.js';
export {
  Pipelines,
  type PipelineRecord,
  type PipelineVersionRecord,
  type StoredPipelineSpec,
  type VersionOptions,
} from './pipelines.js';
export {
  Runs,
  type ChunkCounts,
  type ChunkProgress,
  type RunOptions,
  type RunPatch,
  type RunPlan,
  type RunPlanning,
  type RunRecord,
  type RunStepRecord,
} from './runs.js';
export { Approvals, type ApprovalRecord, type ApprovalState } from './approvals.js';
export { Connections, descriptorOf, type ConnectionRecord, type ConnectionRegistration } from './connections.js';
export { Artifacts, sha256Hex, type ArtifactRecord } from './artifacts.js';
export { Outbox, runOutboxRelay, type OutboxMessage, type Publish, type RelayOptions } from './outbox.js';
export { Ledger, type LedgerAppend, type LedgerFilter } from './ledger.js';
export { Lineage, type LineageTarget } from './lineage.js';
export { LlmPlans, type LlmPlanRecord, type LlmSpend } from './llm-plans.js';
export { Retention, type PurgeCounts } from './retention.js';
export {
  assertSchemaReady,
  missingRelations,
  REQUIRED_MIGRATION,
  REQUIRED_RELATIONS,
  SchemaNotReadyError,
  type SchemaQueryable,
} from './schema-version.js';
