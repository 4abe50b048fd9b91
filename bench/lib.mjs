// Shared helpers for the benchmarks: the local stack's paths, superuser SQL, machine CPU time, statistics.
import { execFileSync, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
export const STATE = process.env.AOETL_STATE_DIR ?? join(REPO, '.state');
export const SOCKET = join(STATE, 'postgres', 'run');

export function envFile(name) {
  return Object.fromEntries(
    readFileSync(join(STATE, 'env', `${name}.env`), 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** SQL as the PostgreSQL superuser over the stack's socket. */
export function psql(db, sql) {
  return execFileSync('runuser', ['-u', 'postgres', '--', 'psql', '-h', SOCKET, '-p', '5433', '-d', db, '-v', 'ON_ERROR_STOP=1', '-AtXq', '-c', sql], {
    encoding: 'utf8',
  }).trim();
}

/** A shell pipeline run as the postgres OS user. */
export function shellAsPostgres(script) {
  execSync(`runuser -u postgres -- bash -c ${JSON.stringify(script)}`, { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Machine-wide busy CPU seconds so far (all processes: services, Postgres, containers). */
export function busyCpuSeconds() {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Wall and CPU seconds of `fn`. */
export async function measure(fn) {
  const c0 = busyCpuSeconds();
  const t0 = performance.now();
  await fn();
  return { wall: (performance.now() - t0) / 1000, cpu: busyCpuSeconds() - c0 };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

export function token(identity = 'alice') {
  return execFileSync(join(REPO, 'deploy/local/token.sh'), [identity], { encoding: 'utf8' }).trim();
}

export async function api(method, path, bearer, body) {
  const res = await fetch(`http://127.0.0.1:8080${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(widths[i])).join('  '));
}
