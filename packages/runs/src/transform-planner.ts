import { createHash } from 'node:crypto';
import { planFromInstruction } from '@aoetl/codegen';
import type { FailureReason, MessageContext } from '@aoetl/contracts';
import { syntheticSample, type ModelPlanner, type PlannerMetrics } from '@aoetl/llm';
import type { Logger } from '@aoetl/observability';
import type { RunPlanning, RunRecord } from '@aoetl/store';

/** What a run executes, decided at planning; `ok: false` fails the run (nothing is dispatched, nothing loads). */
export type TransformChoice =
  | { ok: true; code: string; sha256: string; planning: RunPlanning }
  | { ok: false; error: FailureReason; planning: RunPlanning };

/** Chooses a run's code at planning, from its snapshot only. */
export interface TransformPlanner {
  choose(run: RunRecord, ctx: MessageContext): Promise<TransformChoice>;
}

export interface ModelTransformPlannerOptions {
  /** The model planner; null when no model is configured (the planner is not offered). */
  model: ModelPlanner | null;
  /** Planner of an instruction that names none: `llm` uses the model when one is configured. */
  defaultPlanner: 'rules' | 'llm';
  metrics?: PlannerMetrics;
  logger: Logger;
}

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The orchestrator's choice of code for a run (docs/adr/0006-model-planner.md). Hand-written code runs as written.
 * An instruction runs the model's plan when the model planner is asked for (the pipeline's `planner`, else the
 * default) and configured; when the model is unreachable, over the tenant's budget or answers unusably, it falls back
 * to the offline planner, then to the version's stored artifact, and `planning.fallbacks` says which and why. Code
 * the model wrote that fails the policy, the dry run or the output check fails the run. A run that needs an
 * approval executes exactly the approved artifact. Only the run's snapshot is read: never the pipeline as it is now.
 */
export class ModelTransformPlanner implements TransformPlanner {
  constructor(private readonly opts: ModelTransformPlannerOptions) {}

  async choose(run: RunRecord, ctx: MessageContext): Promise<TransformChoice> {
    const spec = run.snapshot!;
    const artifact = run.artifactSha256!;
    const stored = spec.transform;
    if (stored.kind !== 'instruction') {
      const code = stored.kind === 'sql' ? stored.query : stored.code;
      return { ok: true, code, sha256: artifact, planning: { planner: 'code', requested: 'code', artifactSha256: artifact, fallbacks: [] } };
    }
    const requested = stored.planner ?? this.opts.defaultPlanner;
    const fallbacks: RunPlanning['fallbacks'] = [];
    const fallBack = (from: string, to: string, code: string, reason: string) => {
      fallbacks.push({ from, to, code, reason });
      this.opts.metrics?.fallback(from, to, code);
    };
    if (requested === 'llm') {
      const model = this.opts.model;
      if (run.approvalRequired) fallBack('llm', 'artifact', 'approval_binds_artifact', 'the run needs an approval, which binds the stored artifact');
      else if (!model) fallBack('llm', 'rules', 'llm_not_configured', 'no model planner is configured');
      else {
        const rows = syntheticSample(stored.columns);
        const target = { table: spec.target.table, mode: spec.target.mode, keys: spec.target.keys ?? [] };
        const offline = planFromInstruction(stored.text, stored.columns);
        const outcome = await model.plan({
          tenant: run.tenant,
          requestedBy: run.submittedBy,
          requestId: ctx.requestId,
          instruction: stored.text,
          columns: stored.columns,
          rows,
          target,
          ...(offline.ok ? { expectedColumns: offline.outputColumns.map((c) => c.name) } : {}),
        });
        if (outcome.status === 'planned') {
          const { plan } = outcome;
          return {
            ok: true,
            code: plan.code,
            sha256: plan.sha256,
            planning: { planner: 'llm', requested, artifactSha256: plan.sha256, fallbacks, cached: outcome.cached, provenance: { ...plan.provenance } },
          };
        }
        if (outcome.status === 'rejected') {
          this.opts.logger.warn({ runId: run.id, code: outcome.reason.code }, "the model's code was rejected; the run fails");
          return { ok: false, error: outcome.reason, planning: { planner: 'llm', requested, artifactSha256: artifact, fallbacks } };
        }
        fallBack('llm', 'rules', outcome.reason.code, outcome.reason.message);
      }
    }
    if (fallbacks.at(-1)?.to !== 'artifact') {
      // The stored code of an instruction planned offline is the offline planner's plan of exactly this text: the
      // snapshot's bytes, not a new plan (the planner is deterministic; a newer planner version waits for a new version).
      const provenance = { ...stored.provenance };
      if (stored.provenance.planner === 'rules') return { ok: true, code: stored.code, sha256: artifact, planning: { planner: 'rules', requested, artifactSha256: artifact, fallbacks, provenance } };
      const offline = planFromInstruction(stored.text, stored.columns);
      if (offline.ok) {
        const sha256 = sha256Hex(offline.code);
        return { ok: true, code: offline.code, sha256, planning: { planner: 'rules', requested, artifactSha256: sha256, fallbacks, provenance } };
      }
      fallBack('rules', 'artifact', 'unmappable', `the offline planner cannot map '${offline.clause}': ${offline.reason}`);
    }
    return { ok: true, code: stored.code, sha256: artifact, planning: { planner: 'artifact', requested, artifactSha256: artifact, fallbacks, provenance: { ...stored.provenance } } };
  }
}
