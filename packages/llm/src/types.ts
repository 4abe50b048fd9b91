import type { Static } from '@sinclair/typebox';
import type { TransformPlanSchema } from './plan.js';

export type TransformPlan = Static<typeof TransformPlanSchema>;

export interface ChatMessage {
  role: 'system' | 'user';
  content: string;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** True when the endpoint reported no usage and the counts are estimates (4 characters a token). */
  estimated?: boolean;
}

/** The sampling parameters a plan was made with (part of its provenance and of the cache key). */
export interface LlmParameters {
  temperature: 0;
  seed: number;
  maxTokens: number;
}

export interface PlanRequest {
  tenant: string;
  /** From `buildPrompt`: the instruction and the masked sample are already fenced as untrusted data. */
  messages: ChatMessage[];
}

export interface PlanResult {
  plan: TransformPlan;
  model: string;
  parameters: LlmParameters;
  usage: TokenUsage;
  costUsd: number;
  /** Requests sent for this plan (1 when the first one answered). */
  attempts: number;
  latencyMs: number;
}

/** The model planner's one dependency: turns a prompt into a transform plan, or throws a typed error. */
export interface LlmClient {
  readonly model: string;
  readonly parameters: LlmParameters;
  /**
   * Throws `LlmBudgetExceededError` (nothing sent), `LlmRequestError` (after bounded retries) or `LlmAnswerError`
   * (the answer is malformed, too large, truncated or refused). The plan is untrusted code: validate it.
   */
  plan(request: PlanRequest): Promise<PlanResult>;
}
