/**
 * Domain errors. They are not HTTP errors: one handler (`@aoetl/http`) maps them to application/problem+json.
 * Every error the code throws on purpose is an `AoetlError` with a stable `code` from the closed set below, a
 * `cause` when it wraps another failure, and `retryable`: a property of the type, or of the instance set at
 * construction from typed facts (a Postgres SQLSTATE, a Node error code, an HTTP status), never from a message.
 */
export const ERROR_CODES = {
  input: 'The request or the pipeline is invalid; `details` name the offending fields.',
  not_found: 'The resource does not exist (or belongs to another tenant).',
  conflict: 'The resource is not in a state that allows the operation.',
  unmappable: 'The planner cannot map a clause of the instruction; `details` name the field and the clause (never a guess).',
  not_allowed: 'The caller is authenticated but may not do this (permission, four eyes, Vault policy).',
  unauthorized: 'No valid credential (bearer token, claims).',
  too_many_requests: 'The caller exceeded its rate limit.',
  upstream: 'A dependency (Postgres, Redis, Vault, Docker, the issuer) failed; retryable when the failure is transient.',
  config: 'The configuration or options are invalid.',
  sandbox: 'The sandbox could not run the transform (engine, pod or stream failure, not the transform itself).',
  load: 'A load or commit failed for a reason retrying will not fix; the failure reason says which.',
  internal: 'An unexpected failure (a bug or an unclassified error); never retried.',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetail {
  /** JSON pointer or dotted path of the offending field, when there is one. */
  field?: string;
  message: string;
}

export interface ErrorOptions {
  cause?: unknown;
  details?: ErrorDetail[];
}

export abstract class AoetlError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly retryable: boolean;
  readonly details: ErrorDetail[];

  constructor(message: string, options: ErrorOptions = {}) {
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
/** A clause of an instruction no planner rule maps: refused with the clause, never guessed (HTTP 422). */
export class UnmappableError extends AoetlError {
  readonly code = 'unmappable' as const;
  readonly retryable = false;
}
export class NotAllowedError extends AoetlError {
  readonly code = 'not_allowed' as const;
  readonly retryable = false;
}
/** No valid credential. The HTTP answer says nothing about why; the message is for the logs. */
export class UnauthorizedError extends AoetlError {
  readonly code = 'unauthorized' as const;
  readonly retryable = false;
}
export class TooManyRequestsError extends AoetlError {
  readonly code = 'too_many_requests' as const;
  readonly retryable = false;
}
export class ConfigError extends AoetlError {
  readonly code = 'config' as const;
  readonly retryable = false;
}
/** A dependency (Redis, Postgres, Vault, Docker) failed; retryable unless the failure says otherwise. */
export class UpstreamError extends AoetlError {
  readonly code = 'upstream' as const;
  readonly retryable: boolean;
  constructor(message: string, options: ErrorOptions & { retryable?: boolean } = {}) {
    super(message, options);
    this.retryable = options.retryable ?? true;
  }
}
/** An unexpected failure: a bug, or an error nothing could classify. Never retried. */
export class InternalError extends AoetlError {
  readonly code = 'internal' as const;
  readonly retryable = false;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof AoetlError ? err.retryable : false;
}

/**
 * Postgres SQLSTATE classes worth a retry: 08 connection exception, 40 transaction rollback (serialization
 * failure, deadlock), 53 insufficient resources, 57 operator intervention (shutdown, cannot connect now) except
 * 57014 (query cancelled: a statement timeout, which a retry would only repeat).
 */
const RETRYABLE_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57']);
const NOT_RETRYABLE_SQLSTATES = new Set(['57014']);
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** Node system error codes of a network failure that a new attempt may not meet. */
const TRANSIENT_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** The typed facts a foreign error may carry: `code` (a SQLSTATE or a Node error code) and a Postgres `severity`. */
function factsOf(err: unknown): { code: string | undefined; postgres: boolean } {
  const { code, severity } = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; severity?: unknown };
  return { code: typeof code === 'string' ? code : undefined, postgres: typeof severity === 'string' };
}

/**
 * The `AoetlError` an unknown failure means, from its type and typed facts only, never its message: an
 * `AoetlError` is itself; a Postgres error (a `severity` and a SQLSTATE `code`) is an `UpstreamError`, retryable
 * by its SQLSTATE class; a Node network error (`code` ECONNRESET…) is a retryable `UpstreamError`; anything else
 * is an `InternalError`, never retried. The message is kept; the original is the `cause`.
 */
export function classifyError(err: unknown): AoetlError {
  if (err instanceof AoetlError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const { code, postgres } = factsOf(err);
  if (code !== undefined && postgres && SQLSTATE.test(code)) {
    const retryable = RETRYABLE_SQLSTATE_CLASSES.has(code.slice(0, 2)) && !NOT_RETRYABLE_SQLSTATES.has(code);
    return new UpstreamError(message, { cause: err, retryable });
  }
  if (code !== undefined && TRANSIENT_ERRNO.has(code)) return new UpstreamError(message, { cause: err, retryable: true });
  return new InternalError(message, { cause: err });
}
