import { AoetlError, NotAllowedError, NotFoundError, UpstreamError } from '@aoetl/contracts';

/** Why Vault could not answer: each is worth a bounded retry. */
export type VaultUnavailableReason = 'unreachable' | 'sealed' | 'timeout' | 'server_error';

/** Vault is down, sealed, slow or failing. Retryable; the message names the operation, never a value. */
export class VaultUnavailableError extends UpstreamError {
  constructor(
    readonly reason: VaultUnavailableReason,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { ...options, retryable: true });
  }
}

/** Vault refused the request (policy, bad credentials, revoked token that cannot be renewed). Not retryable. */
export class VaultPermissionError extends NotAllowedError {}

/**
 * Vault refused a login (AppRole or Kubernetes). Usually final, but also what a Vault answers for a few seconds
 * after a restart, before its auth methods are configured again: the adapter retries it a bounded number of
 * times (one login in flight, with backoff) before giving up.
 */
export class VaultLoginRefusedError extends VaultPermissionError {}

/** Vault no longer knows a lease (revoked, expired, or lost with its storage). The credential is dead. */
export class LeaseNotFoundError extends UpstreamError {
  constructor(message = 'vault no longer knows the lease') {
    super(message, { retryable: false });
  }
}

/** Node / HTTP client error codes of a request that got no answer in time. */
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

interface VaultHttpError {
  response?: { statusCode?: number; body?: { errors?: unknown[] } };
  code?: string;
  message?: string;
}

export function httpStatusOf(err: unknown): number | undefined {
  return (err as VaultHttpError | undefined)?.response?.statusCode;
}

/** Vault's own error strings ("permission denied", "invalid lease"); never request bodies. */
function vaultErrors(err: unknown): string {
  const errors = (err as VaultHttpError | undefined)?.response?.body?.errors;
  return Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string').join('; ') : '';
}

/**
 * Maps a node-vault failure to a typed error. Messages carry the operation, the HTTP status and Vault's own
 * short error strings, never request or response bodies (which may hold secrets).
 */
export function toTypedError(err: unknown, what: string): AoetlError {
  if (err instanceof AoetlError) return err;
  const e = err as VaultHttpError;
  const status = httpStatusOf(err);
  const detail = vaultErrors(err).slice(0, 200);
  if (status === 403 || status === 401) return new VaultPermissionError(`vault denied ${what}`, { cause: status });
  if (status === 503) {
    return /sealed/i.test(detail)
      ? new VaultUnavailableError('sealed', `vault is sealed (${what})`)
      : new VaultUnavailableError('server_error', `vault is unavailable (${what}: 503)`);
  }
  if (status === 400 && /invalid lease|lease not found/i.test(detail)) return new LeaseNotFoundError(`vault does not know the lease (${what})`);
  if (status === 404) return new NotFoundError(`vault has nothing at ${what}`);
  if (status === 400 && /invalid accessor|invalid token/i.test(detail)) return new NotFoundError(`vault knows no such token (${what})`);
  if (status !== undefined && status >= 500) return new VaultUnavailableError('server_error', `vault answered ${status} to ${what}`);
  if (status !== undefined) {
    return new UpstreamError(`vault answered ${status} to ${what}${detail ? `: ${detail}` : ''}`, { retryable: false });
  }
  const code = e?.code ?? '';
  if (TIMEOUT_CODES.has(code)) {
    return new VaultUnavailableError('timeout', `vault did not answer in time (${what})`);
  }
  return new VaultUnavailableError('unreachable', `vault unreachable for ${what}${code ? ` (${code})` : ''}`);
}
