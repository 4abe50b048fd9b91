/** A service with missing or wrong configuration stops at boot with one message listing every bad variable. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '@aoetl/testing';

const SERVICES = ['agent-gateway', 'orchestrator', 'etl-agent', 'monitor'];

describe.each(SERVICES)('%s configuration', (service) => {
  test('missing and wrong variables are all named in one fatal line, and the process exits non-zero', () => {
    const res = spawnSync(process.execPath, [join(REPO, 'services', service, 'dist', 'server.js')], {
      env: {
        PATH: process.env.PATH,
        AOETL_REDIS_URL: 'redis://plain-text:6379',
        AOETL_METRICS_PORT: 'ninety',
        AOETL_REDIS_PASSWORD: 'sup3r-secret-value',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(1);
    const fatal = res.stdout.split('\n').filter((l) => l.includes('"level":60'));
    expect(fatal).toHaveLength(1);
    const line = fatal[0]!;
    for (const name of ['AOETL_REDIS_URL', 'AOETL_METRICS_PORT', 'AOETL_REDIS_USERNAME', 'AOETL_TLS_CA_FILE']) {
      expect(line).toContain(name);
    }
    expect(res.stdout + res.stderr).not.toContain('sup3r-secret-value');
  });
});
