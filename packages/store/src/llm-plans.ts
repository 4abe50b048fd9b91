import type pg from 'pg';
import type { ColumnSpec } from '@aoetl/contracts';
import type { Row } from './rows.js';

/** A model plan as stored (the shape `@aoetl/llm`'s PlanCache reads and writes; provenance is opaque here). */
export interface LlmPlanRecord {
  code: string;
  sha256: string;
  explanation: string;
  outputColumns: ColumnSpec[];
  provenance: { [key: string]: unknown };
}

export interface LlmSpend {
  model: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  costUsd: number;
}

/**
 * The model planner's records: validated plans by cache key (immutable; the first writer wins) and the token usage
 * behind the per-tenant budget.
 */
export class LlmPlans {
  constructor(private readonly pool: pg.Pool) {}

  async get(tenant: string, key: string): Promise<LlmPlanRecord | null> {
    const { rows } = await this.pool.query(
      'SELECT code, sha256, explanation, output_columns, provenance FROM llm_plans WHERE tenant = $1 AND cache_key = $2',
      [tenant, key],
    );
    const r = rows[0] as Row | undefined;
    if (!r) return null;
    return {
      code: r.code as string,
      sha256: r.sha256 as string,
      explanation: r.explanation as string,
      outputColumns: r.output_columns as ColumnSpec[],
      provenance: r.provenance as { [key: string]: unknown },
    };
  }

  async put(tenant: string, key: string, plan: LlmPlanRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO llm_plans (tenant, cache_key, code, sha256, explanation, output_columns, provenance)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [tenant, key, plan.code, plan.sha256, plan.explanation, JSON.stringify(plan.outputColumns), JSON.stringify(plan.provenance)],
    );
  }

  /** Tokens the tenant's model requests used since `since`. */
  async tokensUsed(tenant: string, since: Date): Promise<number> {
    const { rows } = await this.pool.query(
      'SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint AS used FROM llm_usage WHERE tenant = $1 AND at >= $2',
      [tenant, since],
    );
    return Number((rows[0] as Row).used);
  }

  async recordSpend(tenant: string, spend: LlmSpend): Promise<void> {
    await this.pool.query('INSERT INTO llm_usage (tenant, model, prompt_tokens, completion_tokens, cost_usd) VALUES ($1, $2, $3, $4, $5)', [
      tenant,
      spend.model,
      spend.usage.promptTokens,
      spend.usage.completionTokens,
      spend.costUsd,
    ]);
  }
}
