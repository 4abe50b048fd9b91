import { hasPermission, type Principal } from '@aoetl/auth';
import type { FailureReason } from '@aoetl/contracts';
import { redactValues, scrubText } from '@aoetl/pii';
import type { RunRecord, RunStepRecord } from '@aoetl/store';

/**
 * Who sees how much of a run's failure. Error texts carry row data (Python exceptions, Postgres literals, harness
 * input errors): readers get the code and a message with every value replaced by its type and length, no
 * traceback; the tenant's admins get the whole failure with personal data masked.
 */
export type ErrorAudience = 'reader' | 'admin';

export const audienceOf = (principal: Principal): ErrorAudience => (hasPermission(principal, 'admin') ? 'admin' : 'reader');

export function errorView(error: FailureReason, audience: ErrorAudience): FailureReason {
  const base = {
    code: error.code,
    ...(error.pythonType === undefined ? {} : { pythonType: error.pythonType }),
    ...(error.violation === undefined ? {} : { violation: error.violation }),
  };
  if (audience === 'reader') return { ...base, message: redactValues(error.message) };
  return {
    ...base,
    message: scrubText(error.message),
    ...(error.traceback === undefined ? {} : { traceback: scrubText(error.traceback) }),
  };
}

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
    planning: r.planning,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}
