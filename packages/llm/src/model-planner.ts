import { createHash } from 'node:crypto';
import type { ColumnSpec, FailureReason } from '@aoetl/contracts';
import { maskSample, type ColumnPiiReport } from '@aoetl/pii';
import { LlmAnswerError, LlmBudgetExceededError, LlmRequestError } from './errors.js';
import type { PlannerMetrics } from './metrics.js';
import { buildPrompt, type PromptTarget } from './prompt.js';
import type { LlmClient, LlmParameters, TokenUsage } from './types.js';

/** The model planner's version: part of every cache key and provenance (bump it when the prompt or checks change). */
export const MODEL_PLANNER_VERSION = 'llm-1';

type TextValue = string | null;

/** Runs code over rows in the sandbox, after the static policy check (the etl-agent's preview path). */
export interface DryRun {
  run(
    req: { tenant: string; code: string; sha256: string; columns: ColumnSpec[]; rows: TextValue[][] },
    ctx: { requestId: string },
  ): Promise<{ ok: true; columns: string[]; rows: TextValue[][] } | { ok: false; error: FailureReason }>;
}

/** Where the model planner's provenance lands: everything but values. */
export interface LlmProvenance {
  planner: 'llm';
  plannerVersion: string;
  model: string;
  parameters: LlmParameters;
  instructionSha256: string;
  promptSha256: string;
  sampleSha256: string;
  codeSha256: string;
  usage: TokenUsage;
  costUsd: number;
  attempts: number;
  requestedBy: string;
  /** Per column: what was masked before the prompt (counts and kinds, never values). */
  pii: ColumnPiiReport[];
  cacheKey: string;
}

/** A plan the model made and the checks passed: stored by cache key, reused for an identical request. */
export interface CachedPlan {
  code: string;
  sha256: string;
  explanation: string;
  outputColumns: ColumnSpec[];
  provenance: LlmProvenance;
}

export interface PlanCache {
  get(tenant: string, key: string): Promise<CachedPlan | null>;
  put(tenant: string, key: string, plan: CachedPlan): Promise<void>;
}

export interface ModelPlanInput {
  tenant: string;
  requestedBy: string;
  requestId: string;
  instruction: string;
  /** The sample's columns (PostgreSQL types). */
  columns: readonly ColumnSpec[];
  /** The raw sample: masked here, before anything reaches a prompt. Values as PostgreSQL text (or null). */
  rows: readonly Record<string, TextValue>[];
  target: PromptTarget;
  /** Output column names the answer must have, in order, when known (e.g. the offline planner's plan of the same instruction). */
  expectedColumns?: readonly string[];
}

/** Why the model planner gave no plan and the caller may fall back to another planner. */
export type FallbackCode = 'llm_unavailable' | 'llm_budget_exceeded' | 'llm_bad_answer';
/** Why the model's code was rejected: the run fails (nothing loads), it does not fall back. */
export type RejectionCode = 'llm_policy_refused' | 'llm_dry_run_failed' | 'llm_output_mismatch';

export type ModelPlanOutcome =
  | {
      status: 'planned';
      plan: CachedPlan;
      cached: boolean;
      /** The dry run's output (a fresh plan only): the masked sample through the code. */
      output?: { columns: string[]; rows: TextValue[][] };
      /** The masked sample the plan was made and dry-run against. */
      maskedRows: Record<string, TextValue>[];
    }
  | { status: 'fallback'; reason: { code: FallbackCode; message: string } }
  | { status: 'rejected'; reason: FailureReason & { code: RejectionCode } };

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const canonical = (value: unknown) => JSON.stringify(value);

export interface ModelPlannerDeps {
  client: LlmClient;
  dryRun: DryRun;
  cache: PlanCache;
  metrics?: PlannerMetrics;
  /** Modules the static policy allows (shown to the model). */
  allowedImports?: readonly string[];
}

/**
 * The model planner: masks the sample (`@aoetl/pii`), builds the fenced prompt, asks the model, and treats the answer
 * as untrusted — the static code policy and a dry run on the masked sample in the sandbox (one etl-agent preview),
 * then an output-schema check — before the plan is cached and returned. An identical request (same prompt, model,
 * parameters and planner version, same tenant) is answered from the cache with no upstream call. Transport, budget
 * and malformed answers fall back; code that fails a check is rejected (the caller fails the run).
 */
export class ModelPlanner {
  constructor(private readonly deps: ModelPlannerDeps) {}

  get model(): string {
    return this.deps.client.model;
  }

  async plan(input: ModelPlanInput): Promise<ModelPlanOutcome> {
    const { client, metrics } = this.deps;
    const masked = maskSample(input.columns, input.rows);
    const maskedRows = masked.rows as Record<string, TextValue>[];
    const prompt = buildPrompt({
      instruction: input.instruction,
      maskedColumns: input.columns,
      maskedSample: maskedRows,
      target: input.target,
      ...(this.deps.allowedImports ? { allowedImports: this.deps.allowedImports } : {}),
    });
    const sampleSha256 = sha256Hex(canonical({ columns: input.columns, rows: maskedRows }));
    const cacheKey = sha256Hex(
      canonical({ tenant: input.tenant, prompt: prompt.sha256, model: client.model, parameters: client.parameters, plannerVersion: MODEL_PLANNER_VERSION }),
    );
    const cached = await this.deps.cache.get(input.tenant, cacheKey);
    if (cached) {
      metrics?.cacheHit(input.tenant);
      return { status: 'planned', plan: cached, cached: true, maskedRows };
    }

    let answer;
    const started = performance.now();
    try {
      answer = await client.plan({ tenant: input.tenant, messages: prompt.messages });
    } catch (err) {
      metrics?.latency((performance.now() - started) / 1000);
      if (err instanceof LlmBudgetExceededError) {
        metrics?.request('budget_exceeded');
        return { status: 'fallback', reason: { code: 'llm_budget_exceeded', message: err.message } };
      }
      if (err instanceof LlmRequestError) {
        metrics?.request(err.reason);
        return { status: 'fallback', reason: { code: 'llm_unavailable', message: err.message } };
      }
      if (err instanceof LlmAnswerError) {
        metrics?.request(err.reason);
        if (err.usage) metrics?.spend(input.tenant, client.model, err.usage, 0);
        return { status: 'fallback', reason: { code: 'llm_bad_answer', message: `${err.reason}: ${err.message}` } };
      }
      throw err;
    }
    metrics?.latency(answer.latencyMs / 1000);
    metrics?.request('ok');
    metrics?.spend(input.tenant, answer.model, answer.usage, answer.costUsd);

    const { plan } = answer;
    const codeSha256 = sha256Hex(plan.code);
    const reject = (code: RejectionCode, message: string, extra: Partial<FailureReason> = {}): ModelPlanOutcome => {
      metrics?.refusal(code);
      return { status: 'rejected', reason: { ...extra, code, message } };
    };

    const columns = [...input.columns];
    const rows = maskedRows.map((r) => columns.map((c) => r[c.name] ?? null));
    const ran = await this.deps.dryRun.run({ tenant: input.tenant, code: plan.code, sha256: codeSha256, columns, rows }, { requestId: input.requestId });
    if (!ran.ok) {
      const policy = ran.error.code === 'policy_refused' || ran.error.violation === true;
      return reject(
        policy ? 'llm_policy_refused' : 'llm_dry_run_failed',
        `the model's code ${policy ? 'was refused by the code policy' : 'failed its dry run on the masked sample'}: ${ran.error.code}: ${ran.error.message}`,
        { violation: policy },
      );
    }
    const mismatch = outputMismatch(plan.outputColumns.map((c) => c.name), ran.columns, input);
    if (mismatch) return reject('llm_output_mismatch', `the model's code does not produce the target's columns: ${mismatch}`);

    const stored: CachedPlan = {
      code: plan.code,
      sha256: codeSha256,
      explanation: plan.explanation,
      outputColumns: plan.outputColumns,
      provenance: {
        planner: 'llm',
        plannerVersion: MODEL_PLANNER_VERSION,
        model: answer.model,
        parameters: answer.parameters,
        instructionSha256: sha256Hex(input.instruction),
        promptSha256: prompt.sha256,
        sampleSha256,
        codeSha256,
        usage: answer.usage,
        costUsd: answer.costUsd,
        attempts: answer.attempts,
        requestedBy: input.requestedBy,
        pii: masked.report.filter((r) => r.maskedValues > 0 || r.semanticKind !== undefined),
        cacheKey,
      },
    };
    await this.deps.cache.put(input.tenant, cacheKey, stored);
    return { status: 'planned', plan: stored, cached: false, output: { columns: ran.columns, rows: ran.rows }, maskedRows };
  }
}

/**
 * The output-schema check: the columns the code really produced are the ones it declared, in order; they hold every
 * target key; and they are the expected columns when those are known. Null when it passes.
 */
export function outputMismatch(declared: readonly string[], produced: readonly string[], input: Pick<ModelPlanInput, 'target' | 'expectedColumns'>): string | null {
  const list = (names: readonly string[]) => (names.length ? names.join(', ') : '(none)');
  if (produced.length === 0) return 'it produced no columns';
  if (canonical(declared) !== canonical(produced)) return `it declared [${list(declared)}] but produced [${list(produced)}]`;
  const missing = (input.target.keys ?? []).filter((k) => !produced.includes(k));
  if (missing.length > 0) return `the target key column(s) ${list(missing)} are missing from [${list(produced)}]`;
  if (input.expectedColumns && canonical(input.expectedColumns) !== canonical(produced)) {
    return `expected [${list(input.expectedColumns)}], produced [${list(produced)}]`;
  }
  return null;
}

const SYNTHETIC: readonly [RegExp, (i: number) => string][] = [
  [/^(int|integer|int[248]|bigint|smallint|serial|bigserial)$/, (i) => String(i)],
  [/^(numeric|decimal|real|double precision|float[48])/, (i) => `${i}.50`],
  [/^(bool|boolean)$/, (i) => (i % 2 === 1 ? 't' : 'f')],
  [/^date$/, (i) => `2026-01-0${i}`],
  [/^(timestamptz|timestamp with time zone)$/, (i) => `2026-01-0${i} 10:00:00+00`],
  [/^(timestamp|timestamp without time zone)$/, (i) => `2026-01-0${i} 10:00:00`],
  [/^uuid$/, (i) => `00000000-0000-4000-8000-00000000000${i}`],
  [/^jsonb?$/, (i) => `{"n": ${i}}`],
];

/**
 * A sample made from the columns alone (no row of the source): what a run's model plan is made and dry-run against
 * while the orchestrator reads no source rows (docs/adr/0006-model-planner.md). Text columns get `<name>_<n>`.
 */
export function syntheticSample(columns: readonly ColumnSpec[], count = 3): Record<string, TextValue>[] {
  return Array.from({ length: count }, (_, k) => {
    const i = k + 1;
    return Object.fromEntries(
      columns.map((c) => {
        const make = SYNTHETIC.find(([re]) => re.test(c.type.toLowerCase()))?.[1];
        return [c.name, make ? make(i) : `${c.name}_${i}`];
      }),
    );
  });
}

/** Plans stored as records whose provenance is opaque (the control database's `llm_plans`), as a PlanCache. */
export function storedPlanCache(records: {
  get(tenant: string, key: string): Promise<(Omit<CachedPlan, 'provenance'> & { provenance: object }) | null>;
  put(tenant: string, key: string, plan: Omit<CachedPlan, 'provenance'> & { provenance: { [key: string]: unknown } }): Promise<void>;
}): PlanCache {
  return {
    get: async (tenant, key) => (await records.get(tenant, key)) as CachedPlan | null, // written by `put` below
    put: (tenant, key, plan) => records.put(tenant, key, { ...plan, provenance: { ...plan.provenance } }),
  };
}
