import type { TokenUsage } from './types.js';
import { LlmBudgetExceededError } from './errors.js';

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

/** Where a daily budget reads and records spend (the control database's `llm_usage`, `@aoetl/store` LlmPlans). */
export interface SpendRecords {
  tokensUsed(tenant: string, since: Date): Promise<number>;
  recordSpend(tenant: string, spend: TokenSpend): Promise<void>;
}

/**
 * A per-tenant token budget per UTC day over stored spend: `limits` per tenant, `defaultLimit` for the others
 * (Infinity: no limit). Shared by every replica of every service that asks the model.
 */
export class DailyTokenBudget implements BudgetLedger {
  constructor(
    private readonly records: SpendRecords,
    private readonly limits: Readonly<Record<string, number>>,
    private readonly defaultLimit: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async check(tenant: string, tokens: number): Promise<void> {
    const limit = this.limits[tenant] ?? this.defaultLimit;
    if (limit === Number.POSITIVE_INFINITY) return;
    const day = this.now();
    day.setUTCHours(0, 0, 0, 0);
    const used = await this.records.tokensUsed(tenant, day);
    if (used + tokens > limit) throw new LlmBudgetExceededError(tenant, used, limit, tokens);
  }

  async charge(tenant: string, spend: TokenSpend): Promise<void> {
    await this.records.recordSpend(tenant, spend);
  }
}
