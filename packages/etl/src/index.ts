export {
  loadChunk,
  commitRun,
  commitOnTarget,
  LoadFailure,
  LEDGER,
  type LoadDeps,
  type LoadResult,
  type TransformRunner,
  type TransformOutcome,
} from './load.js';
export { loadTaskChunk, loadSqlChunk, beginPushdown, copyOutOf, SQL_LOCK_TIMEOUT_MS } from './pushdown.js';
export { quoteIdent, quoteQualified, mergeStatement, chunkPredicate, stagingTable } from './sql.js';
export { LeaseKeeper, CredentialLostError, type LeaseKeeperOptions } from './leases.js';
export { eraseSubject, type EraseDeps, type ErasureCount, type ErasureSubject, type ErasureTarget } from './erase.js';
export { provisionTarget, driftOf, createTableStatement, type Drift, type Provisioned } from './provision.js';
export { evaluateChecks, violationQuery, changePercent } from './quality.js';
export { WATERMARKS, WINDOWS, fixWindow, advanceWatermark, watermarkType } from './watermark.js';
