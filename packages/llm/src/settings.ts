import { ConfigError } from '@aoetl/contracts';
import { DailyTokenBudget, type PriceTable, type SpendRecords } from './budget.js';
import { ModelPlanner, type DryRun, type PlanCache } from './model-planner.js';
import type { PlannerMetrics } from './metrics.js';
import { OpenAiLlmClient } from './openai-client.js';

/** `{"model": {"inputPerMillion": 2, "outputPerMillion": 8}, …}` (USD per million tokens) → a price table. */
export function parsePriceTable(json: string, setting = 'AOETL_LLM_PRICES'): PriceTable {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ConfigError(`${setting}: not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${setting}: must be an object of model → price`);
  const table: Record<string, { inputPerMillion: number; outputPerMillion: number }> = {};
  for (const [model, price] of Object.entries(value)) {
    const p = price as { inputPerMillion?: unknown; outputPerMillion?: unknown } | null;
    const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
    if (!p || !ok(p.inputPerMillion) || !ok(p.outputPerMillion)) {
      throw new ConfigError(`${setting}: ${model} needs inputPerMillion and outputPerMillion (USD, ≥ 0)`);
    }
    table[model] = { inputPerMillion: p.inputPerMillion as number, outputPerMillion: p.outputPerMillion as number };
  }
  return table;
}

/** `acme=100000,globex=0` → per-tenant limits (the config schema checked the shape). */
export function parseTenantLimits(text: string): Record<string, number> {
  return Object.fromEntries(
    text
      .split(',')
      .filter((p) => p.trim() !== '')
      .map((pair) => {
        const [tenant, n] = pair.split('=');
        return [tenant!.trim(), Number(n)];
      }),
  );
}

/** The model planner's settings (`LlmConfig` of `@aoetl/config`). */
export interface LlmSettings {
  AOETL_LLM_BASE_URL?: string | undefined;
  AOETL_LLM_MODEL?: string | undefined;
  AOETL_LLM_API_KEY_KV_PATH: string;
  AOETL_LLM_PRICES: string;
  AOETL_LLM_TENANT_TOKEN_BUDGET: number;
  AOETL_LLM_TENANT_BUDGETS: string;
  AOETL_LLM_TIMEOUT_MS: number;
  AOETL_LLM_MAX_ATTEMPTS: number;
  AOETL_LLM_RETRY_BASE_MS: number;
  AOETL_LLM_MAX_RETRY_DELAY_MS: number;
  AOETL_LLM_MAX_TOKENS: number;
  AOETL_LLM_SEED: number;
}

export interface ModelPlannerSetup {
  settings: LlmSettings;
  /** Reads the API key (field `key`) from Vault KV at `AOETL_LLM_API_KEY_KV_PATH`; null when there is no Vault. */
  readKv: ((path: string) => Promise<Record<string, unknown>>) | null;
  spend: SpendRecords;
  cache: PlanCache;
  dryRun: DryRun;
  metrics?: PlannerMetrics;
  /** Registers the API key for log scrubbing. */
  onSecret?: (value: string) => void;
}

/**
 * The model planner from the settings, or why it is not offered (no base URL or model, no Vault, no key in Vault):
 * the service then plans with the offline planner and still starts. A bad price table or option is a ConfigError.
 */
export async function modelPlannerFrom(setup: ModelPlannerSetup): Promise<{ planner: ModelPlanner } | { planner: null; why: string }> {
  const s = setup.settings;
  if (!s.AOETL_LLM_BASE_URL || !s.AOETL_LLM_MODEL) return { planner: null, why: 'AOETL_LLM_BASE_URL and AOETL_LLM_MODEL are not both set' };
  if (!setup.readKv) return { planner: null, why: 'no Vault is configured (the API key lives in Vault KV)' };
  const prices = parsePriceTable(s.AOETL_LLM_PRICES);
  let apiKey: unknown;
  try {
    apiKey = (await setup.readKv(s.AOETL_LLM_API_KEY_KV_PATH)).key;
  } catch (err) {
    return { planner: null, why: `the API key could not be read from Vault KV ${s.AOETL_LLM_API_KEY_KV_PATH}: ${(err as Error).message}` };
  }
  if (typeof apiKey !== 'string' || apiKey === '') return { planner: null, why: `Vault KV ${s.AOETL_LLM_API_KEY_KV_PATH} has no field "key"` };
  setup.onSecret?.(apiKey);
  const client = new OpenAiLlmClient({
    baseUrl: s.AOETL_LLM_BASE_URL,
    apiKey,
    model: s.AOETL_LLM_MODEL,
    prices,
    budget: new DailyTokenBudget(setup.spend, parseTenantLimits(s.AOETL_LLM_TENANT_BUDGETS), s.AOETL_LLM_TENANT_TOKEN_BUDGET),
    seed: s.AOETL_LLM_SEED,
    maxTokens: s.AOETL_LLM_MAX_TOKENS,
    timeoutMs: s.AOETL_LLM_TIMEOUT_MS,
    maxAttempts: s.AOETL_LLM_MAX_ATTEMPTS,
    retryBaseMs: s.AOETL_LLM_RETRY_BASE_MS,
    maxRetryDelayMs: s.AOETL_LLM_MAX_RETRY_DELAY_MS,
  });
  return { planner: new ModelPlanner({ client, dryRun: setup.dryRun, cache: setup.cache, ...(setup.metrics ? { metrics: setup.metrics } : {}) }) };
}
