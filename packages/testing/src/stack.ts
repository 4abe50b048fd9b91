/**
 * The real local stack (`make up`) as tests reach it: its env files, tokens from its OIDC issuer, SQL as the
 * PostgreSQL superuser, its Redis as the admin user, its scripts. Nothing here fakes a component: a missing
 * component fails the test and says which. Nothing runs at import time, so unit tests may import this package.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..', '..');
export const STATE = process.env.AOETL_STATE_DIR ?? join(REPO, '.state');
export const API = 'http://127.0.0.1:8080';
export const MONITOR = 'http://127.0.0.1:8090';
export const MONITOR_METRICS = 'http://127.0.0.1:9104/metrics';
export const REAL_ISSUER = process.env.AOETL_OIDC_ISSUER ?? 'https://127.0.0.1:9400';
export const AUDIENCE = 'aoetl-api';

/** The KEY=VALUE env file a deploy script wrote for a service (or `test`). */
export function stackEnv(name: string): Record<string, string> {
  const file = join(STATE, 'env', `${name}.env`);
  if (!existsSync(file)) throw new Error(`${file} is missing: the local stack is not up (run: make up)`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !line.startsWith('#')) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

/** The PEM of the stack's dev CA (signs OpenBao, the OIDC issuer, Redis and Postgres). */
export function devCa(): string {
  const file = join(STATE, 'certs', 'ca.crt');
  if (!existsSync(file)) throw new Error(`${file} is missing: the local stack is not up (run: make up)`);
  return readFileSync(file, 'utf8');
}

const tokens = new Map<string, { token: string; until: number }>();
/**
 * A real access token from the local OIDC issuer (client-credentials grant, deploy/local/token.sh), reused
 * per identity until a minute before it expires.
 */
export function token(identity: string): string {
  const cached = tokens.get(identity);
  if (cached && cached.until > Date.now()) return cached.token;
  const fresh = execFileSync(join(REPO, 'deploy/local/token.sh'), [identity], { encoding: 'utf8' }).trim();
  const exp = (JSON.parse(Buffer.from(fresh.split('.')[1] ?? '', 'base64url').toString() || '{}') as { exp?: number }).exp;
  tokens.set(identity, { token: fresh, until: exp === undefined ? 0 : exp * 1000 - 60_000 });
  return fresh;
}

/** Runs SQL as the PostgreSQL superuser over the stack's unix socket; returns unaligned, tuples-only output. Throws with psql's message. */
export function psqlAdmin(database: string, sql: string): string {
  const env = stackEnv('test');
  const socket = env.AOETL_PG_SUPERUSER_SOCKET;
  if (!socket) throw new Error('AOETL_PG_SUPERUSER_SOCKET missing from test.env');
  return execFileSync(
    'runuser',
    ['-u', 'postgres', '--', 'psql', '-h', socket, '-p', env.AOETL_PG_PORT ?? '5433', '-d', database, '-v', 'ON_ERROR_STOP=1', '-AtX', '-c', sql],
    { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC', PGTZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 512 * 1024 * 1024 },
  ).trim();
}

/** Runs redis-cli as the stack's Redis admin user over mutual TLS; returns its trimmed output. */
export function redisAdminCli(...args: string[]): string {
  const env = stackEnv('test');
  return execFileSync(
    'redis-cli',
    ['--tls', '--cacert', env.AOETL_TLS_CA_FILE!, '--cert', env.AOETL_TLS_CERT_FILE!, '--key', env.AOETL_TLS_KEY_FILE!,
      '-h', '127.0.0.1', '-p', '6390', '--user', 'admin', '--pass', env.AOETL_REDIS_ADMIN_PASSWORD!, '--no-auth-warning', ...args],
    { encoding: 'utf8' },
  ).trim();
}

/** SIGKILLs a local service (as a crash would), without any cleanup. */
export function killService(service: string): void {
  const pid = Number(readFileSync(join(STATE, 'run', `${service}.pid`), 'utf8').trim());
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // already gone
  }
}

/** Starts every local service that is not running and waits until each is ready. */
export function startServices(): void {
  execFileSync('bash', [join(REPO, 'deploy/local/services.sh'), 'start'], { stdio: 'pipe', timeout: 120_000 });
}

/** Runs a stack script (e.g. `redis.sh stop`). */
export function stackScript(script: string, ...args: string[]): string {
  return execFileSync('bash', [join(REPO, 'deploy/local', script), ...args], { encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
}

/** Creates `silver.<prefix>_<random>` in the warehouse, owned by the loader role, from a column list. */
export function warehouseTable(prefix: string, columns: string): string {
  const table = `silver.${prefix}_${Math.random().toString(16).slice(2, 10)}`;
  psqlAdmin('warehouse', `CREATE TABLE ${table} (${columns}); ALTER TABLE ${table} OWNER TO warehouse_load;`);
  return table;
}
