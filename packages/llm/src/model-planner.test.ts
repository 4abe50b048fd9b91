import { LlmAnswerError, LlmBudgetExceededError, LlmRequestError } from './errors';
import { ModelPlanner, outputMismatch, syntheticSample, type CachedPlan, type DryRun } from './model-planner';
import type { PlannerMetrics } from './metrics';
import { ScriptedLlmClient } from './testing';
import type { PlanResult } from './types';

const GOOD = 'def transform(rows):\n    return [{"id": r["id"], "email": r["email"].lower()} for r in rows]\n';
const answer = (code = GOOD, outputColumns = [{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }]): PlanResult => ({
  plan: { language: 'python', code, outputColumns, explanation: 'Lower-cases the email.' },
  model: 'scripted',
  parameters: { temperature: 0, seed: 1, maxTokens: 4096 },
  usage: { promptTokens: 100, completionTokens: 20, totalTokens: 120 },
  costUsd: 0.001,
  attempts: 1,
  latencyMs: 5,
});

function memoryCache() {
  const plans = new Map<string, CachedPlan>();
  return { plans, get: async (t: string, k: string) => plans.get(`${t}/${k}`) ?? null, put: async (t: string, k: string, p: CachedPlan) => void plans.set(`${t}/${k}`, p) };
}

/** A dry run that echoes the rows through an identity of the declared columns, or fails as told. */
function dryRun(result?: Awaited<ReturnType<DryRun['run']>>): DryRun & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    async run(req) {
      calls.push(req);
      return result ?? { ok: true, columns: ['id', 'email'], rows: req.rows.map((r) => [r[0] ?? null, (r[1] ?? '').toLowerCase()]) };
    },
  };
}

function metrics(): PlannerMetrics & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    request: (o) => seen.push(`request:${o}`),
    spend: (t, m, u) => seen.push(`spend:${t}:${u.totalTokens}`),
    latency: () => undefined,
    cacheHit: (t) => seen.push(`hit:${t}`),
    refusal: (c) => seen.push(`refusal:${c}`),
    fallback: () => undefined,
  };
}

const input = {
  tenant: 'acme',
  requestedBy: 'alice',
  requestId: 'r1',
  instruction: 'lower-case the emails',
  columns: [{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }],
  rows: [{ id: '1', email: 'Ann.Smith@corp.example.com' }, { id: '2', email: 'bob@corp.example.com' }],
  target: { table: 'silver.people', keys: ['id'] },
};

describe('ModelPlanner', () => {
  it('masks the sample before the prompt, dry-runs the answer on the masked sample, records provenance and caches it', async () => {
    const client = new ScriptedLlmClient([answer()]);
    const run = dryRun();
    const cache = memoryCache();
    const m = metrics();
    const planner = new ModelPlanner({ client, dryRun: run, cache, metrics: m });
    const out = await planner.plan(input);
    expect(out.status).toBe('planned');
    const prompt = JSON.stringify(client.requests[0]!.messages);
    expect(prompt).not.toContain('Ann.Smith@corp.example.com');
    expect(prompt).not.toContain('bob@corp.example.com');
    expect(JSON.stringify(run.calls)).not.toContain('corp.example.com');
    if (out.status !== 'planned') return;
    expect(out.cached).toBe(false);
    expect(out.plan.provenance).toMatchObject({
      planner: 'llm',
      model: 'scripted',
      usage: { totalTokens: 120 },
      costUsd: 0.001,
      requestedBy: 'alice',
      pii: [{ column: 'email', semanticKind: 'email', maskedValues: 2, kinds: { email: 2 } }],
    });
    for (const k of ['instructionSha256', 'promptSha256', 'sampleSha256', 'codeSha256', 'cacheKey'] as const) expect(out.plan.provenance[k]).toMatch(/^[0-9a-f]{64}$/);
    expect(m.seen).toEqual(['request:ok', 'spend:acme:120']);

    const again = await planner.plan(input);
    expect(again).toMatchObject({ status: 'planned', cached: true, plan: { sha256: out.plan.sha256 } });
    expect(client.requests).toHaveLength(1);
    expect(run.calls).toHaveLength(1);
    expect(m.seen.at(-1)).toBe('hit:acme');
    // another tenant never reads this tenant's plan
    await expect(new ModelPlanner({ client: new ScriptedLlmClient([]), dryRun: run, cache }).plan({ ...input, tenant: 'globex' })).rejects.toThrow(/no answer scripted/);
  });

  it('rejects code the policy refuses, code that fails its dry run, and output that ignores the target', async () => {
    const cases: [Awaited<ReturnType<DryRun['run']>> | undefined, PlanResult, string][] = [
      [{ ok: false, error: { code: 'policy_refused', message: 'import of os is not allowed', violation: true } }, answer('import os\ndef transform(rows):\n    return rows\n'), 'llm_policy_refused'],
      [{ ok: false, error: { code: 'sandbox_timeout', message: 'killed after 10000 ms' } }, answer('def transform(rows):\n    while True: pass\n'), 'llm_dry_run_failed'],
      [{ ok: true, columns: ['junk'], rows: [['x']] }, answer('def transform(rows):\n    return [{"junk": "x"}]\n', [{ name: 'junk', type: 'text' }]), 'llm_output_mismatch'],
    ];
    for (const [result, plan, code] of cases) {
      const cache = memoryCache();
      const out = await new ModelPlanner({ client: new ScriptedLlmClient([plan]), dryRun: dryRun(result), cache }).plan(input);
      expect(out).toMatchObject({ status: 'rejected', reason: { code } });
      expect(cache.plans.size).toBe(0);
    }
  });

  it('falls back when the model is unreachable, over budget or answers unusably', async () => {
    const errors: [Error, string][] = [
      [new LlmRequestError('the model endpoint answered HTTP 429 (after 3 attempts)', { reason: 'rate_limited', status: 429 }), 'llm_unavailable'],
      [new LlmBudgetExceededError('acme', 10, 10, 5), 'llm_budget_exceeded'],
      [new LlmAnswerError('the model answered with malformed JSON', { reason: 'malformed_json' }), 'llm_bad_answer'],
    ];
    for (const [err, code] of errors) {
      const run = dryRun();
      const out = await new ModelPlanner({ client: new ScriptedLlmClient([err]), dryRun: run, cache: memoryCache() }).plan(input);
      expect(out).toMatchObject({ status: 'fallback', reason: { code } });
      expect(run.calls).toHaveLength(0);
    }
  });
});

describe('outputMismatch', () => {
  const target = { target: { keys: ['id'] } };
  it('passes declared = produced with the keys, and names what is wrong otherwise', () => {
    expect(outputMismatch(['id', 'email'], ['id', 'email'], target)).toBeNull();
    expect(outputMismatch(['id'], ['id', 'email'], target)).toMatch(/declared \[id\] but produced \[id, email\]/);
    expect(outputMismatch(['email'], ['email'], target)).toMatch(/key column\(s\) id are missing/);
    expect(outputMismatch(['id', 'x'], ['id', 'x'], { ...target, expectedColumns: ['id', 'email'] })).toMatch(/expected \[id, email\]/);
    expect(outputMismatch([], [], target)).toMatch(/no columns/);
  });
});

describe('syntheticSample', () => {
  it('makes typed rows from the columns alone', () => {
    expect(syntheticSample([{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }, { name: 'on', type: 'date' }], 2)).toEqual([
      { id: '1', email: 'email_1', on: '2026-01-01' },
      { id: '2', email: 'email_2', on: '2026-01-02' },
    ]);
  });
});
