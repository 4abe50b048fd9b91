export type { LlmClient, PlanRequest, PlanResult, TransformPlan, ChatMessage, TokenUsage, LlmParameters } from './types.js';
export { OpenAiLlmClient, type OpenAiLlmOptions } from './openai-client.js';
export { TransformPlanSchema, PLAN_SCHEMA_NAME, PLAN_LANGUAGES, planJsonSchema, parsePlan } from './plan.js';
export {
  buildPrompt,
  neutralise,
  DEFAULT_ALLOWED_IMPORTS,
  type PromptInput,
  type PromptColumn,
  type PromptTarget,
  type BuiltPrompt,
} from './prompt.js';
export { costUsd, estimateTokens, DailyTokenBudget, type BudgetLedger, type SpendRecords, type TokenSpend, type ModelPrice, type PriceTable } from './budget.js';
export { retryAfterMs, withRetries, type RetryOptions } from './retry.js';
export {
  LlmRequestError,
  LlmAnswerError,
  LlmBudgetExceededError,
  type LlmRequestFailure,
  type LlmAnswerFailure,
} from './errors.js';
export {
  ModelPlanner,
  MODEL_PLANNER_VERSION,
  outputMismatch,
  syntheticSample,
  storedPlanCache,
  type CachedPlan,
  type DryRun,
  type FallbackCode,
  type LlmProvenance,
  type ModelPlanInput,
  type ModelPlanOutcome,
  type ModelPlannerDeps,
  type PlanCache,
  type RejectionCode,
} from './model-planner.js';
export { llmMetrics, type PlannerMetrics } from './metrics.js';
export { modelPlannerFrom, parsePriceTable, parseTenantLimits, type LlmSettings, type ModelPlannerSetup } from './settings.js';
