import { createHash, randomUUID } from 'node:crypto';
import {
  STREAMS,
  envelope,
  type ConnectionDescriptor,
  type FailureReason,
  type MessageContext,
  type TaskLimits,
  transformSource,
} from '@aoetl/contracts';
import type { OutputColumn } from '@aoetl/contracts';
import type { ApprovalRecord, OutboxMessage, RunPlan, RunRecord, StoredPipelineSpec } from '@aoetl/store';

/** What a plan is derived from besides the run's snapshot. */
export interface PlanInputs {
  source: ConnectionDescriptor;
  target: ConnectionDescriptor;
  limits: TaskLimits;
  /** Chunks when the snapshot's spec names none. */
  defaultChunks: number;
  /** The source connection's allowed schemas: a sql transform's task carries them (the agent re-checks its query). */
  sourceSchemas?: readonly string[];
  /** Rows staged by the pipeline's last successful run (null: none), for a `row_count_change` check. */
  baselineRows?: number | null;
}

/** The transform's output columns as the spec declares (python) or the planner derived them (instruction). */
export function outputOf(spec: StoredPipelineSpec): OutputColumn[] | undefined {
  return 'output' in spec.transform ? spec.transform.output : undefined;
}

/**
 * What keys an incremental pipeline's stored watermark in the target database: the pipeline, its source table, its
 * watermark column and its target table. A version that changes any of them starts from no watermark.
 */
export function watermarkStream(pipelineId: string, spec: StoredPipelineSpec): string | undefined {
  if (!spec.incremental) return undefined;
  return [pipelineId, spec.source.table, spec.incremental.column, spec.target.table].join(':');
}

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Why a run may not start, or null when it may: it must carry a snapshot whose code hashes to its artifact, and a
 * run that needs an approval must have one, approved, for exactly its snapshot (pipeline version and artifact).
 */
export function startRefusal(run: RunRecord, approval: ApprovalRecord | null): FailureReason | null {
  if (!run.snapshot || run.pipelineVersion === null || run.artifactSha256 === null) {
    return { code: 'snapshot_missing', message: 'the run has no snapshot of its pipeline version; submit it again' };
  }
  if (sha256Hex(transformSource(run.snapshot.transform)) !== run.artifactSha256) {
    return { code: 'snapshot_mismatch', message: "the run's code does not hash to its artifact" };
  }
  if (!run.approvalRequired) return null;
  if (approval?.state !== 'approved') {
    return { code: 'approval_missing', message: 'the run needs an approval and has none' };
  }
  if (approval.pipelineVersion !== run.pipelineVersion || approval.artifactSha256 !== run.artifactSha256) {
    return {
      code: 'approval_mismatch',
      message: `the approval is for pipeline version ${approval.pipelineVersion ?? 'none'}, artifact ${approval.artifactSha256 ?? 'none'}; ` +
        `the run is version ${run.pipelineVersion}, artifact ${run.artifactSha256}`,
    };
  }
  return null;
}

/**
 * The plan of a run, derived once from its snapshot (never from the pipeline as it is now): source, target
 * (connection, table, mode, keys), the artifact's code and hash, limits and chunk count. A run already running
 * keeps its chunk count. Call startRefusal first: this takes the snapshot as valid.
 */
export function derivePlan(run: RunRecord, inputs: PlanInputs): RunPlan {
  const spec = run.snapshot;
  if (!spec || run.artifactSha256 === null) throw new Error(`run ${run.id} has no snapshot to plan from`);
  const output = outputOf(spec);
  const stream = watermarkStream(run.pipelineId, spec);
  const sql = spec.transform.kind === 'sql';
  return {
    // A sql transform is one query: one chunk.
    chunks: run.status === 'running' ? run.chunks : sql ? 1 : (spec.chunks ?? inputs.defaultChunks),
    source: { connection: inputs.source, table: spec.source.table },
    target: {
      connection: inputs.target,
      table: spec.target.table,
      mode: spec.target.mode,
      keys: spec.target.keys ?? [],
      ...(spec.target.create ? { create: true } : {}),
      ...(spec.target.allowBreakingDrift ? { allowBreakingDrift: true } : {}),
    },
    transform:
      spec.transform.kind === 'sql'
        ? { language: 'sql', code: spec.transform.query, sha256: run.artifactSha256, allowedSchemas: [...(inputs.sourceSchemas ?? [])] }
        : { language: 'python', code: spec.transform.code, sha256: run.artifactSha256, ...(output ? { output } : {}) },
    limits: inputs.limits,
    ...(output ? { output } : {}),
    ...(spec.incremental && stream
      ? { incremental: { column: spec.incremental.column, stream, fullRefresh: run.options.fullRefresh === true } }
      : {}),
    ...(spec.checks?.length ? { checks: spec.checks, baselineRows: inputs.baselineRows ?? null } : {}),
  };
}

/** The load task of one chunk of a planned run. */
export function loadTask(plan: RunPlan, run: Pick<RunRecord, 'id' | 'tenant'>, index: number, ctx: MessageContext): OutboxMessage {
  const payload = {
    taskId: randomUUID(),
    runId: run.id,
    tenant: run.tenant,
    source: plan.source,
    target: plan.target,
    transform: plan.transform,
    limits: plan.limits,
    chunk: { index, count: plan.chunks },
    ...(plan.incremental ? { incremental: plan.incremental } : {}),
  };
  return { stream: STREAMS.tasks, message: envelope('task.load', payload, ctx) };
}

/** The commit (or abort) task of a planned run: the plan's target, never the pipeline's current one. */
export function commitTask(
  plan: RunPlan,
  run: Pick<RunRecord, 'id' | 'tenant'>,
  action: 'commit' | 'abort',
  ctx: MessageContext,
): OutboxMessage {
  return {
    stream: STREAMS.tasks,
    message: envelope(
      'task.commit',
      {
        taskId: randomUUID(),
        runId: run.id,
        tenant: run.tenant,
        action,
        target: plan.target,
        chunks: plan.chunks,
        ...(plan.output ? { output: plan.output } : {}),
        ...(plan.incremental ? { incremental: plan.incremental } : {}),
        ...(plan.checks ? { checks: plan.checks, baselineRows: plan.baselineRows ?? null } : {}),
      },
      ctx,
    ),
  };
}
