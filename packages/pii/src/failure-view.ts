import { scrubText } from './mask.js';
import { redactValues } from './redact.js';

/** A run or task failure as stored (`FailureReason` of @aoetl/contracts). */
export interface Failure {
  code: string;
  message: string;
  pythonType?: string;
  traceback?: string;
  violation?: boolean;
  /** Quality check results (`CheckResult` of @aoetl/contracts): `examples` are staged values. */
  checks?: FailureCheck[];
}

export interface FailureCheck {
  examples?: string[];
}

/**
 * Quality check results as `audience` sees them: counts and settings for everyone; the offending values
 * (`examples`) for admins only, PII-masked.
 */
export function checksView<C extends FailureCheck>(checks: readonly C[], audience: FailureAudience): C[] {
  return checks.map(({ examples, ...rest }) =>
    audience === 'admin' && examples ? ({ ...rest, examples: examples.map((e) => scrubText(e)) } as C) : (rest as C),
  );
}

/**
 * Who sees how much of a failure. Error texts carry row data (Python exceptions, Postgres literals, harness input
 * errors): readers get the code and a message with every value replaced by its type and length, no traceback;
 * admins get the whole failure with personal data masked. The gateway's run API and the monitor's dashboard both
 * show failures through this.
 */
export type FailureAudience = 'reader' | 'admin';

export function failureView<F extends Failure>(error: F, audience: FailureAudience): F {
  const base = {
    code: error.code,
    ...(error.pythonType === undefined ? {} : { pythonType: error.pythonType }),
    ...(error.violation === undefined ? {} : { violation: error.violation }),
    ...(error.checks === undefined ? {} : { checks: checksView(error.checks, audience) }),
  };
  if (audience === 'reader') return { ...base, message: redactValues(error.message) } as F;
  return {
    ...base,
    message: scrubText(error.message),
    ...(error.traceback === undefined ? {} : { traceback: scrubText(error.traceback) }),
  } as F;
}
