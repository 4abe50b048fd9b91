import { Collector } from '@aoetl/testing';
import { createLogger, forgetSecret, MIN_SECRET_LENGTH, registerSecret, scrub, SecretTooShortError } from './logger';

describe('logger', () => {
  test('redacts authorization headers and password fields', () => {
    const destination = new Collector();
    const log = createLogger({ name: 't', destination });
    log.info({ req: { headers: { authorization: 'Bearer abc.def.ghi' } }, db: { password: 'pw-1234567' } }, 'x');
    const out = destination.text();
    expect(out).not.toContain('abc.def.ghi');
    expect(out).not.toContain('pw-1234567');
    expect(out).toContain('[redacted]');
  });

  test('scrubs a registered secret wherever it appears, even inside an error message', () => {
    const destination = new Collector();
    const secret = 'v-approle-source-reader-Xy7Q9';
    registerSecret(secret);
    const log = createLogger({ name: 't', destination });
    log.error({ err: new Error(`connect failed for postgres://u:${secret}@db`) }, `login ${secret}`);
    const out = destination.text();
    expect(out).not.toContain(secret);
    expect(out.split('[redacted]').length).toBeGreaterThanOrEqual(3);
  });

  test('scrub leaves text without secrets alone', () => {
    registerSecret('long-enough-secret-1');
    expect(scrub('abc is fine')).toBe('abc is fine');
  });

  test.each([
    ['a double quote', 'pa"ss-w0rd-1234'],
    ['a backslash', 'pa\\ss-w0rd-1234'],
    ['a newline and a tab', 'pa\nss\tw0rd-1234'],
    ['other control characters', 'pa\u0001ss\u001fw0rd\u007f-1234'],
    ['all of them', '"\\\n\r\b\f\u0000-secret"'],
  ])('scrubs a secret containing %s in its JSON-escaped form too', (_what, secret) => {
    const destination = new Collector();
    registerSecret(secret);
    const log = createLogger({ name: 't', destination });
    log.error({ err: new Error(`login failed: ${secret}`), body: JSON.stringify({ password: secret }) }, `auth ${secret}`);
    forgetSecret(secret);
    const out = destination.text();
    expect(out).not.toContain(secret);
    expect(out).not.toContain(JSON.stringify(secret).slice(1, -1));
    // What a reader of the log sees after decoding the JSON: no secret, at any depth.
    const decoded = JSON.parse(out) as Record<string, unknown>;
    const texts = [String(decoded.msg), JSON.stringify(decoded.err), String(decoded.body), String((JSON.parse(String(decoded.body)) as { password: string }).password)];
    for (const text of texts) expect(text).not.toContain(secret);
    expect(out.split('[redacted]').length).toBeGreaterThanOrEqual(4);
  });

  test('refuses a secret too short to scrub safely, with a clear error that does not contain it', () => {
    for (const short of ['Q', 'xQz', 'sev7n!7']) {
      expect(short.length).toBeLessThan(MIN_SECRET_LENGTH);
      let error: unknown;
      try {
        registerSecret(short);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SecretTooShortError);
      expect((error as Error).message).toContain(`is ${short.length} characters long`);
      expect((error as Error).message).toContain(`shorter than ${MIN_SECRET_LENGTH}`);
      expect((error as Error).message).not.toContain(short);
    }
    expect(() => registerSecret('eight888')).not.toThrow();
    expect(() => registerSecret('')).not.toThrow();
    expect(() => registerSecret(undefined)).not.toThrow();
  });
});
