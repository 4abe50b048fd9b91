import { TooManyRequestsError, UpstreamError, type ErrorOptions } from '@aoetl/contracts';
import type { TokenUsage } from './types.js';

/** Why a request to the model failed before an answer came back. */
export type LlmRequestFailure = 'timeout' | 'rate_limited' | 'server_error' | 'connection' | 'rejected';

/**
 * The model endpoint did not answer usefully: timeouts, 429, 5xx and connection failures are retryable (the
 * client has already retried them `attempts` times); other statuses (400, 401, 403, 404, 422) are not.
 */
export class LlmRequestError extends UpstreamError {
  readonly reason: LlmRequestFailure;
  readonly status: number | undefined;
  /** What the endpoint asked for (Retry-After / retry-after-ms), in milliseconds. */
  readonly retryAfterMs: number | undefined;
  readonly attempts: number;
  constructor(
    message: string,
    options: ErrorOptions & { reason: LlmRequestFailure; status?: number; retryAfterMs?: number; attempts?: number },
  ) {
    super(message, { ...options, retryable: options.reason !== 'rejected' });
    this.reason = options.reason;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.attempts = options.attempts ?? 1;
  }
}

/** Why an answer was refused. */
export type LlmAnswerFailure = 'malformed_json' | 'schema_mismatch' | 'too_large' | 'truncated' | 'refused' | 'empty';

/**
 * The model answered, but the answer is unusable. Not retried: at temperature 0 with a fixed seed the same
 * prompt gives the same answer; the caller falls back to another planner. `usage` is what the answer cost.
 */
export class LlmAnswerError extends UpstreamError {
  readonly reason: LlmAnswerFailure;
  readonly usage: TokenUsage | undefined;
  constructor(message: string, options: ErrorOptions & { reason: LlmAnswerFailure; usage?: TokenUsage }) {
    super(message, { ...options, retryable: false });
    this.reason = options.reason;
    this.usage = options.usage;
  }
}

/** The tenant has no token budget left for this request; nothing was sent. */
export class LlmBudgetExceededError extends TooManyRequestsError {
  readonly tenant: string;
  readonly used: number;
  readonly limit: number;
  constructor(tenant: string, used: number, limit: number, requested: number) {
    super(`tenant ${tenant} is over its model token budget (${used} used + ${requested} requested > ${limit})`);
    this.tenant = tenant;
    this.used = used;
    this.limit = limit;
  }
}
