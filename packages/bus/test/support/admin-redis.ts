// Test-only: a connection to the local stack's Redis as its admin user (settings from .state).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';

export function adminRedis(): Redis {
  const state = process.env.AOETL_STATE_DIR ?? join(__dirname, '../../../../.state');
  const env = Object.fromEntries(
    readFileSync(join(state, 'env', 'test.env'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return new Redis({
    host: '127.0.0.1',
    port: 6390,
    username: 'admin',
    password: env.AOETL_REDIS_ADMIN_PASSWORD,
    enableReadyCheck: false,
    tls: {
      ca: readFileSync(join(state, 'certs/ca.crt')),
      cert: readFileSync(join(state, 'certs/admin.crt')),
      key: readFileSync(join(state, 'certs/admin.key')),
    },
  });
}
