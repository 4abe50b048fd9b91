export {
  loadSqlGuard,
  checkQuery,
  guardQuery,
  describeRefusal,
  type GuardPolicy,
  type GuardResult,
  type GuardRule,
  type Refusal,
} from './guard.js';
export { ALLOWED_FUNCTIONS, deniedCategory, type DeniedCategory } from './functions.js';
export { reachProblems, tableReachProblem, type PipelineReach, type ReachFields, type ReachProblem } from './reach.js';
