import { InternalError } from '@aoetl/contracts';
import type { BudgetLedger, TokenSpend } from './budget.js';
import { LlmBudgetExceededError } from './errors.js';
import type { LlmClient, LlmParameters, PlanRequest, PlanResult } from './types.js';

/** Token budgets kept in memory, per tenant (tests and single-process development). */
export class InMemoryBudgetLedger implements BudgetLedger {
  private readonly spent = new Map<string, number>();
  readonly charges: { tenant: string; spend: TokenSpend }[] = [];

  /** `limits`: tokens per tenant; a tenant not named gets `defaultLimit`. */
  constructor(
    private readonly limits: Readonly<Record<string, number>> = {},
    private readonly defaultLimit = Number.POSITIVE_INFINITY,
  ) {}

  used(tenant: string): number {
    return this.spent.get(tenant) ?? 0;
  }

  async check(tenant: string, tokens: number): Promise<void> {
    const limit = this.limits[tenant] ?? this.defaultLimit;
    const used = this.used(tenant);
    if (used + tokens > limit) throw new LlmBudgetExceededError(tenant, used, limit, tokens);
  }

  async charge(tenant: string, spend: TokenSpend): Promise<void> {
    this.spent.set(tenant, this.used(tenant) + spend.usage.totalTokens);
    this.charges.push({ tenant, spend });
  }
}

/** An `LlmClient` that answers from a queue (a result, or an error to throw) and records every request. */
export class ScriptedLlmClient implements LlmClient {
  readonly requests: PlanRequest[] = [];
  readonly parameters: LlmParameters = { temperature: 0, seed: 1, maxTokens: 4096 };

  constructor(
    private readonly answers: (PlanResult | Error)[],
    readonly model = 'scripted',
  ) {}

  async plan(request: PlanRequest): Promise<PlanResult> {
    this.requests.push(request);
    const next = this.answers.shift();
    if (next === undefined) throw new InternalError('ScriptedLlmClient: no answer scripted for this request');
    if (next instanceof Error) throw next;
    return next;
  }
}
