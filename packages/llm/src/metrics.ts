import { Counter, Histogram, type Registry } from 'prom-client';
import type { TokenUsage } from './types.js';

/** What the model planner reports; `llmMetrics` registers the Prometheus series behind it. */
export interface PlannerMetrics {
  /** One per request to the model (`ok`, a failure reason, `budget_exceeded`). Cache hits are not requests. */
  request(outcome: string): void;
  spend(tenant: string, model: string, usage: TokenUsage, costUsd: number): void;
  latency(seconds: number): void;
  cacheHit(tenant: string): void;
  /** The model's code failed a check (policy, dry run, output schema). */
  refusal(code: string): void;
  /** A run or preview used another planner than it asked for. */
  fallback(from: string, to: string, reason: string): void;
}

/**
 * aoetl_llm_requests_total{outcome}, aoetl_llm_tokens_total{tenant,model,kind}, aoetl_llm_cost_usd_total{tenant,model},
 * aoetl_llm_request_duration_seconds, aoetl_llm_cache_hits_total{tenant}, aoetl_llm_planner_refusals_total{code},
 * aoetl_llm_fallbacks_total{from,to,reason}.
 */
export function llmMetrics(registry: Registry): PlannerMetrics {
  const registers = [registry];
  const requests = new Counter({ name: 'aoetl_llm_requests_total', help: 'Requests to the model endpoint by outcome', labelNames: ['outcome'], registers });
  const tokens = new Counter({ name: 'aoetl_llm_tokens_total', help: 'Model tokens spent', labelNames: ['tenant', 'model', 'kind'], registers });
  const cost = new Counter({ name: 'aoetl_llm_cost_usd_total', help: 'Model cost in USD (price table)', labelNames: ['tenant', 'model'], registers });
  const duration = new Histogram({
    name: 'aoetl_llm_request_duration_seconds',
    help: 'Time to a model answer, retries included',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const hits = new Counter({ name: 'aoetl_llm_cache_hits_total', help: 'Plans answered from the cache (no upstream call)', labelNames: ['tenant'], registers });
  const refusals = new Counter({ name: 'aoetl_llm_planner_refusals_total', help: "Model plans rejected by a check", labelNames: ['code'], registers });
  const fallbacks = new Counter({ name: 'aoetl_llm_fallbacks_total', help: 'Planner fallbacks', labelNames: ['from', 'to', 'reason'], registers });
  return {
    request: (outcome) => requests.inc({ outcome }),
    spend(tenant, model, usage, usd) {
      tokens.inc({ tenant, model, kind: 'prompt' }, usage.promptTokens);
      tokens.inc({ tenant, model, kind: 'completion' }, usage.completionTokens);
      cost.inc({ tenant, model }, usd);
    },
    latency: (seconds) => duration.observe(seconds),
    cacheHit: (tenant) => hits.inc({ tenant }),
    refusal: (code) => refusals.inc({ code }),
    fallback: (from, to, reason) => fallbacks.inc({ from, to, reason }),
  };
}
