import { Collector } from '@aoetl/testing';
import { createLogger, registerSecret, scrub } from './logger';

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

  test('scrub leaves text without secrets alone and ignores short values', () => {
    registerSecret('abc');
    expect(scrub('abc is fine')).toBe('abc is fine');
  });
});
