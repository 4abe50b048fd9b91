import type { TokenUsage } from './types.js';

/** USD per million tokens, as the model's vendor bills them. */
export interface ModelPrice {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** Model name → price (configuration). A local model is priced at 0. */
export type PriceTable = Readonly<Record<string, ModelPrice>>;

export function costUsd(usage: TokenUsage, price: ModelPrice): number {
  return (usage.promptTokens * price.inputPerMillion + usage.completionTokens * price.outputPerMillion) / 1_000_000;
}

export interface TokenSpend {
  model: string;
  usage: TokenUsage;
  costUsd: number;
}

/**
 * A tenant's model token budget. The client calls `check` before a request (with the most the request can use:
 * its prompt estimate plus the max-token cap) and `charge` after every answer, used or refused.
 */
export interface BudgetLedger {
  /** Throws `LlmBudgetExceededError` when the tenant cannot spend `tokens` more now. */
  check(tenant: string, tokens: number): Promise<void>;
  charge(tenant: string, spend: TokenSpend): Promise<void>;
}

/** Tokens a text will take, for a budget check before the request (about 4 characters a token). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
