import { hasPermission, type Principal } from '@aoetl/auth';
import type { FailureReason } from '@aoetl/contracts';
import { checksView, failureView, type FailureAudience } from '@aoetl/pii';
import type { RunRecord, RunStepRecord } from '@aoetl/store';

/** Who sees how much of a run's failure: see `failureView` (@aoetl/pii), shared with the monitor's dashboard. */
export type ErrorAudience = FailureAudience;

export const audienceOf = (principal: Principal): ErrorAudience => (hasPermission(principal, 'admin') ? 'admin' : 'reader');

export const errorView = (error: FailureReason, audience: ErrorAudience): FailureReason => failureView(error, audience);

const isFailure = (v: unknown): v is FailureReason =>
  typeof v === 'object' && v !== null && typeof (v as FailureReason).code === 'string' && typeof (v as FailureReason).message === 'string';

/** A step's detail, its failure (if any) shown as `errorView` shows it. */
function detailView(detail: unknown, audience: ErrorAudience): unknown {
  if (typeof detail !== 'object' || detail === null || !('error' in detail)) return detail;
  const { error, ...rest } = detail;
  return { ...rest, error: isFailure(error) ? errorView(error, audience) : null };
}

export const stepView = (s: RunStepRecord, audience: ErrorAudience) => ({ status: s.status, at: s.at, detail: detailView(s.detail, audience) });

/** Named fields only: whatever else a record carries never reaches a response. */
export function runView(r: RunRecord, audience: ErrorAudience) {
  return {
    id: r.id,
    pipelineId: r.pipelineId,
    status: r.status,
    approvalRequired: r.approvalRequired,
    submittedBy: r.submittedBy,
    cancelledBy: r.cancelledBy,
    requestId: r.requestId,
    pipelineVersion: r.pipelineVersion,
    artifactSha256: r.artifactSha256,
    target: r.snapshot
      ? { connection: r.snapshot.target.connection, table: r.snapshot.target.table, mode: r.snapshot.target.mode, keys: r.snapshot.target.keys ?? [] }
      : null,
    chunks: r.chunks,
    rowsIn: r.rowsIn,
    rowsOut: r.rowsOut,
    bytesOut: r.bytesOut,
    error: r.error ? errorView(r.error, audience) : null,
    options: r.options.fullRefresh ? { fullRefresh: true } : {},
    watermark: r.watermark,
    checks: r.checks ? checksView(r.checks, audience) : null,
    planning: r.planning,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}
