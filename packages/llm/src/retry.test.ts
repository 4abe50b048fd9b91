import { LlmAnswerError, LlmRequestError } from './errors';
import { retryAfterMs, withRetries } from './retry';

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('retryAfterMs', () => {
  it('reads retry-after-ms, retry-after seconds and an HTTP date', () => {
    expect(retryAfterMs(headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(retryAfterMs(headers({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterMs(headers({ 'retry-after': '1.5' }))).toBe(1500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3000);
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterMs(headers({}))).toBeUndefined();
  });
});

describe('withRetries', () => {
  const options = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1_000 };
  const failing = (errors: Error[]) => {
    let calls = 0;
    const fn = async () => {
      const err = errors[calls++];
      if (err) throw err;
      return 'ok';
    };
    return { fn, calls: () => calls };
  };

  it('retries retryable request errors and reports the attempts', async () => {
    const f = failing([new LlmRequestError('x', { reason: 'server_error', status: 500 }), new LlmRequestError('y', { reason: 'timeout' })]);
    await expect(withRetries(options, f.fn)).resolves.toEqual({ value: 'ok', attempts: 3 });
  });

  it('waits what Retry-After asks', async () => {
    const f = failing([new LlmRequestError('x', { reason: 'rate_limited', status: 429, retryAfterMs: 300 })]);
    const started = Date.now();
    await withRetries(options, f.fn);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('stops after maxAttempts with the count in the error', async () => {
    const f = failing(Array.from({ length: 5 }, () => new LlmRequestError('down', { reason: 'connection' })));
    await expect(withRetries(options, f.fn)).rejects.toMatchObject({ reason: 'connection', attempts: 3, message: 'down (after 3 attempts)' });
    expect(f.calls()).toBe(3);
  });

  it('does not retry rejected requests, refused answers or other errors', async () => {
    for (const err of [new LlmRequestError('401', { reason: 'rejected', status: 401 }), new LlmAnswerError('bad', { reason: 'malformed_json' }), new TypeError('bug')]) {
      const f = failing([err]);
      await expect(withRetries(options, f.fn)).rejects.toBe(err);
      expect(f.calls()).toBe(1);
    }
  });
});
