import { NotAllowedError, NotFoundError, UpstreamError, isRetryable } from '@aoetl/contracts';
import { LeaseNotFoundError, VaultPermissionError, VaultUnavailableError, toTypedError } from './errors';

const http = (statusCode: number, errors: string[] = [], body: Record<string, unknown> = {}) => ({
  message: errors[0] ?? `Status ${statusCode}`,
  response: { statusCode, body: { errors, ...body } },
});

describe('toTypedError', () => {
  test('403 and 401 are permission errors, not retried', () => {
    const e = toTypedError(http(403, ['permission denied']), 'read database/creds/x');
    expect(e).toBeInstanceOf(VaultPermissionError);
    expect(e).toBeInstanceOf(NotAllowedError);
    expect(isRetryable(e)).toBe(false);
  });

  test('a sealed vault, 5xx, timeouts and refused connections are retryable and say which', () => {
    const sealed = toTypedError(http(503, ['Vault is sealed']), 'kv read');
    expect(sealed).toBeInstanceOf(VaultUnavailableError);
    expect((sealed as VaultUnavailableError).reason).toBe('sealed');
    expect(sealed.message).toBe('vault is sealed (kv read)');
    expect((toTypedError(http(500), 'x') as VaultUnavailableError).reason).toBe('server_error');
    expect((toTypedError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'x') as VaultUnavailableError).reason).toBe('unreachable');
    expect((toTypedError({ code: 'ECONNABORTED', message: 'timeout of 10000ms exceeded' }, 'x') as VaultUnavailableError).reason).toBe('timeout');
    for (const e of [sealed, toTypedError(http(502), 'x'), toTypedError({ code: 'ECONNREFUSED' }, 'x')]) expect(isRetryable(e)).toBe(true);
  });

  test('an unknown lease, a missing path and other 4xx are not retried', () => {
    expect(toTypedError(http(400, ['invalid lease']), 'lease lookup')).toBeInstanceOf(LeaseNotFoundError);
    expect(toTypedError(http(400, ['lease not found']), 'lease renew')).toBeInstanceOf(LeaseNotFoundError);
    expect(toTypedError(http(404), 'kv read')).toBeInstanceOf(NotFoundError);
    const bad = toTypedError(http(400, ['missing role_id']), 'approle login');
    expect(bad).toBeInstanceOf(UpstreamError);
    expect(isRetryable(bad)).toBe(false);
  });

  test('messages never carry request or response bodies', () => {
    const e = toTypedError(
      { message: 'boom', response: { statusCode: 500, body: { errors: [], data: { password: 'hunter2-secret' } } }, config: { data: '{"secret_id":"s3cr3t-id"}' } },
      'approle login',
    );
    expect(`${e.message} ${JSON.stringify(e)}`).not.toMatch(/hunter2|s3cr3t/);
  });
});
