import { ConfigError } from '@aoetl/contracts';
import type { PriceTable } from './budget.js';

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
