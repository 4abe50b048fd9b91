import { AoetlError, type FailureReason } from '@aoetl/contracts';

/** A load that failed for a reason that retrying will not fix; the run fails with `reason`. */
export class LoadFailure extends AoetlError {
  readonly code = 'load' as const;
  readonly retryable = false;
  constructor(readonly reason: FailureReason) {
    super(reason.message);
  }
}
