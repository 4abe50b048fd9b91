import type { WriteMode } from '@aoetl/contracts';
import type { StoredPipelineSpec } from '@aoetl/store';

const targetOf = (s: StoredPipelineSpec) => JSON.stringify([s.target.connection, s.target.table, s.target.keys ?? []]);
/** A version asks for approvals itself, or allows breaking schema drift (which may drop or retype target columns). */
const asksForApproval = (s: StoredPipelineSpec | null) => s?.approval?.required === true || s?.target.allowBreakingDrift === true;

/**
 * Whether the runs of a new pipeline version need an approval, decided when the version is written (`prev` is the
 * version it replaces, null for a new pipeline): always when its spec asks for one; and, when approvals are enabled
 * (the previous version asked for them or the policy names any write mode), whenever the change is one a reviewer
 * must see: another target (connection, table or keys), a switch to `replace` (which deletes the target's rows), or
 * the approval setting turned off.
 */
export function changeNeedsApproval(
  prev: StoredPipelineSpec | null,
  next: StoredPipelineSpec,
  policyModes: readonly WriteMode[],
): boolean {
  if (asksForApproval(next)) return true;
  if (prev === null) return false;
  const enabled = asksForApproval(prev) || policyModes.length > 0;
  if (!enabled) return false;
  const toReplace = next.target.mode === 'replace' && prev.target.mode !== 'replace';
  return toReplace || targetOf(prev) !== targetOf(next) || asksForApproval(prev);
}

/** Whether a run of a version needs an approval: the version says so, or the policy lists its write mode. */
export function runNeedsApproval(
  version: { approvalRequired: boolean; spec: StoredPipelineSpec },
  policyModes: readonly WriteMode[],
): boolean {
  return version.approvalRequired || asksForApproval(version.spec) || policyModes.includes(version.spec.target.mode);
}
