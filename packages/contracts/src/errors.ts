/**
 * Domain errors. They are not HTTP errors: one handler per service maps them to
 * application/problem+json. Retry decisions read `retryable`, never a message.
 */
export type ErrorCode =
  | 'input'
  | 'not_found'
  | 'conflict'
  | 'not_allowed'
  | 'unauthorized'
  | 'upstream'
  | 'timeout'
  | 'config'
  | 'sandbox'
  | 'transform';

export interface ErrorDetail {
  /** JSON pointer or dotted path of the offending field, when there is one. */
  field?: string;
  message: string;
}

export abstract class AoetlError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly retryable: boolean;
  readonly details: ErrorDetail[];

  constructor(message: string, options: { cause?: unknown; details?: ErrorDetail[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details ?? [];
  }
}

export class InputError extends AoetlError {
  readonly code = 'input' as const;
  readonly retryable = false;
}
export class NotFoundError extends AoetlError {
  readonly code = 'not_found' as const;
  readonly retryable = false;
}
export class ConflictError extends AoetlError {
  readonly code = 'conflict' as const;
  readonly retryable = false;
}
export class NotAllowedError extends AoetlError {
  readonly code = 'not_allowed' as const;
  readonly retryable = false;
}
export class UnauthorizedError extends AoetlError {
  readonly code = 'unauthorized' as const;
  readonly retryable = false;
}
export class ConfigError extends AoetlError {
  readonly code = 'config' as const;
  readonly retryable = false;
}
/** A dependency (Redis, Postgres, Vault, Docker) failed; usually worth a bounded retry. */
export class UpstreamError extends AoetlError {
  readonly code = 'upstream' as const;
  readonly retryable: boolean;
  constructor(message: string, options: { cause?: unknown; retryable?: boolean; details?: ErrorDetail[] } = {}) {
    super(message, options);
    this.retryable = options.retryable ?? true;
  }
}
export class TimeoutError extends AoetlError {
  readonly code = 'timeout' as const;
  readonly retryable = true;
}
/** The user's transform failed (raised, timed out, broke a limit). Never retried. */
export class TransformError extends AoetlError {
  readonly code = 'transform' as const;
  readonly retryable = false;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof AoetlError ? err.retryable : false;
}
