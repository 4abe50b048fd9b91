import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { ConfigError } from '@aoetl/contracts';
import { Secret, loadConfig, redactConfig, secretValues } from './index';

const Schema = Type.Object({
  PORT: Type.Integer({ minimum: 1, maximum: 65535 }),
  URL: Type.String({ pattern: '^rediss://' }),
  PASSWORD: Secret(Type.String({ minLength: 1 })),
  LEVEL: Type.String({ default: 'info' }),
});

describe('loadConfig', () => {
  test('converts, applies defaults and returns typed values', () => {
    const c = loadConfig(Schema, { PORT: '8080', URL: 'rediss://x', PASSWORD: 'hunter2hunter2' });
    expect(c).toEqual({ PORT: 8080, URL: 'rediss://x', PASSWORD: 'hunter2hunter2', LEVEL: 'info' });
  });

  test('lists every bad variable in one error and never prints a secret', () => {
    let err: unknown;
    try {
      loadConfig(Schema, { PORT: 'eighty', URL: 'redis://plain', PASSWORD: '' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('PORT');
    expect(msg).toContain('URL');
    expect(msg).toContain('PASSWORD: is required');
    expect(msg).not.toContain('LEVEL');
  });

  test('a wrong secret value is reported without its value', () => {
    const S = Type.Object({ TOKEN: Secret(Type.String({ minLength: 20 })) });
    expect(() => loadConfig(S, { TOKEN: 'short-secret' })).toThrow(/TOKEN: .*secret, not shown/);
    expect(() => loadConfig(S, { TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
  });

  test('reads a secret from KEY_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(dir, 'pw'), 'from-a-file-secret\n');
    const c = loadConfig(Schema, { PORT: '1', URL: 'rediss://x', PASSWORD_FILE: join(dir, 'pw') });
    expect(c.PASSWORD).toBe('from-a-file-secret');
  });

  test('redactConfig hides secrets and secretValues lists them', () => {
    const c = loadConfig(Schema, { PORT: '1', URL: 'rediss://x', PASSWORD: 'hunter2hunter2' });
    expect(redactConfig(Schema, c)).toEqual({ PORT: 1, URL: 'rediss://x', PASSWORD: '[redacted]', LEVEL: 'info' });
    expect(secretValues(Schema, c)).toEqual(['hunter2hunter2']);
  });
});
