/** Redis clients to the stack's Redis (TLS only, client certificates, one ACL user per service, `admin` for tests). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';
import { STATE, stackEnv } from './stack.js';

/** ACL users that have no certificate of their own: the one of the process that uses them. */
const CERT_OF: Record<string, string> = { 'etl-agent-2': 'etl-agent', 'monitor-quarantine': 'monitor' };

/**
 * A client as ACL user `user` over mutual TLS with the user's certificate from .state/certs (`clientCert: false`
 * connects without one, a string names another certificate, e.g. `admin` for a throwaway user). Fail-fast defaults:
 * no ready check, one retry per request. The caller disconnects it.
 */
export function stackRedis(user: string, password: string | undefined, opts: RedisOptions & { clientCert?: boolean | string } = {}): Redis {
  const { clientCert = true, ...options } = opts;
  const certs = join(STATE, 'certs');
  const cert = typeof clientCert === 'string' ? clientCert : (CERT_OF[user] ?? user);
  return new Redis({
    host: '127.0.0.1',
    port: 6390,
    username: user,
    ...(password === undefined ? {} : { password }),
    enableReadyCheck: false,
    maxRetriesPerRequest: 1,
    tls: {
      ca: readFileSync(join(certs, 'ca.crt')),
      ...(clientCert ? { cert: readFileSync(join(certs, `${cert}.crt`)), key: readFileSync(join(certs, `${cert}.key`)) } : {}),
    },
    ...options,
  });
}

/** A client as the stack's Redis admin user (password from test.env). */
export function adminRedis(opts: RedisOptions = {}): Redis {
  return stackRedis('admin', stackEnv('test').AOETL_REDIS_ADMIN_PASSWORD, opts);
}
