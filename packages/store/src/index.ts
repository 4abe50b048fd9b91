export { createPool, inTransaction, isUniqueViolation, type DatabaseConfig } from './db.js';
export {
  ControlStore,
  sha256Hex,
  type PipelineRecord,
  type RunRecord,
  type RunPatch,
  type OutboxMessage,
} from './control-store.js';
export * from './gateway-queries.js';
export { runOutboxRelay, type RelayOptions } from './outbox-relay.js';
export {
  assertSchemaReady,
  missingRelations,
  REQUIRED_MIGRATION,
  REQUIRED_RELATIONS,
  SchemaNotReadyError,
  type SchemaQueryable,
} from './schema-version.js';
