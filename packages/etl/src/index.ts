export { runLoadTask, LoadFailure, type LoadDeps, type LoadResult, type TransformRunner, type TransformOutcome } from './load.js';
export { quoteIdent, quoteQualified, mergeStatement } from './sql.js';
