import { Writable } from 'node:stream';
import { createLogger, registerSecret, scrub } from './logger';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

describe('logger', () => {
  test('redacts authorization headers and password fields', () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 't', destination });
    log.info({ req: { headers: { authorization: 'Bearer abc.def.ghi' } }, db: { password: 'pw-1234567' } }, 'x');
    const out = lines.join('');
    expect(out).not.toContain('abc.def.ghi');
    expect(out).not.toContain('pw-1234567');
    expect(out).toContain('[redacted]');
  });

  test('scrubs a registered secret wherever it appears, even inside an error message', () => {
    const { lines, destination } = capture();
    const secret = 'v-approle-source-reader-Xy7Q9';
    registerSecret(secret);
    const log = createLogger({ name: 't', destination });
    log.error({ err: new Error(`connect failed for postgres://u:${secret}@db`) }, `login ${secret}`);
    const out = lines.join('');
    expect(out).not.toContain(secret);
    expect(out.split('[redacted]').length).toBeGreaterThanOrEqual(3);
  });

  test('scrub leaves text without secrets alone and ignores short values', () => {
    registerSecret('abc');
    expect(scrub('abc is fine')).toBe('abc is fine');
  });
});
