/**
 * Helpers for integration and end-to-end tests against the real local stack (`make up`).
 * Nothing here fakes a component: a missing component fails the test and says which.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO = join(__dirname, '..', '..');
export const STATE = process.env.AOETL_STATE_DIR ?? join(REPO, '.state');
export const API = 'http://127.0.0.1:8080';
export const MONITOR_METRICS = 'http://127.0.0.1:9104/metrics';

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

/** A real access token from the local OIDC issuer (client-credentials grant). */
export function token(identity: string): string {
  return execFileSync(join(REPO, 'deploy/local/token.sh'), [identity], { encoding: 'utf8' }).trim();
}

/** Runs SQL as the PostgreSQL superuser over the stack's unix socket; returns unaligned, tuples-only output. */
export function psqlAdmin(database: string, sql: string): string {
  const env = stackEnv('test');
  const socket = env.AOETL_PG_SUPERUSER_SOCKET;
  if (!socket) throw new Error('AOETL_PG_SUPERUSER_SOCKET missing from test.env');
  return execFileSync(
    'runuser',
    ['-u', 'postgres', '--', 'psql', '-h', socket, '-p', env.AOETL_PG_PORT ?? '5433', '-d', database, '-v', 'ON_ERROR_STOP=1', '-AtX', '-c', sql],
    { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC', PGTZ: 'UTC' } },
  ).trim();
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function api<T = any>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls a run until it is succeeded or failed. */
export async function waitForRun(runId: string, bearer: string, timeoutMs = 240_000): Promise<any> {
  return waitFor(
    `run ${runId} to finish`,
    async () => {
      const r = await api('GET', `/v1/runs/${runId}`, { token: bearer });
      return r.body && ['succeeded', 'failed', 'cancelled'].includes(r.body.status) ? r.body : undefined;
    },
    timeoutMs,
  );
}

/** Sum of a Prometheus metric's samples whose labels include `labels`. */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
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
