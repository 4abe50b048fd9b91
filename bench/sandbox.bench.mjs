// The sandbox, side by side with its baselines in the same run:
//  - cold start: a driver run of an empty transform against `docker run` (CLI) with the same flags;
//  - warm pool: acquire time (request → running container ready for input) p50/p95, and whole runs warm vs cold;
//  - runc against runsc (gVisor) for all of the above;
//  - 1,000,000 rows through an identity transform: psql COPY TO STDOUT → sandbox → psql COPY FROM STDIN,
//    against the raw pipe `psql -c "COPY … TO STDOUT" | psql -c "COPY … FROM STDIN"` on the same tables.
// Env: BENCH_SANDBOX_STARTS (default 12), BENCH_SANDBOX_ROWS (default 1000000).
import { spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { buildContainerSpec, DockerSandboxDriver, resolveLimits } from '../packages/sandbox/dist/index.js';
import { envFile, median, percentile, psql, shellAsPostgres, SOCKET, table } from './lib.mjs';

const env = envFile('etl-agent');
const image = env.AOETL_SANDBOX_IMAGE;
const socketPath = env.AOETL_DOCKER_SOCKET || '/var/run/docker.sock';
const STARTS = Number(process.env.BENCH_SANDBOX_STARTS ?? 12);
const ROWS = Number(process.env.BENCH_SANDBOX_ROWS ?? 1_000_000);
const RUNTIMES = ['runc', 'runsc'];
const LIMITS = resolveLimits({ memoryBytes: 512 * 1024 * 1024, timeoutMs: 600_000 });
// The harness holds the chunk's rows as dicts: 1M rows of 6 columns need about 0.8 GB.
const DATA_LIMITS = resolveLimits({ memoryBytes: 2048 * 1024 * 1024, timeoutMs: 600_000 });
const IDENTITY = 'def transform(rows):\n    return rows\n';
const header = JSON.stringify({ code: IDENTITY, columns: [], types: [] }) + '\n';
const fmt = (ms) => `${ms.toFixed(0)} ms`;
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

const sink = () => new Writable({ write: (_c, _e, done) => done() });
const empty = () => {
  const s = new PassThrough();
  s.end();
  return s;
};

/** `docker run` arguments equivalent to the driver's container spec. */
function dockerRunArgs(runtime) {
  const spec = buildContainerSpec({ image, runtime, runId: 'bench-cli', limits: LIMITS });
  const h = spec.HostConfig;
  const args = ['run', '--rm', '-i', '--runtime', runtime, '--network', 'none', '--ipc', 'none', '--read-only',
    '--tmpfs', `/tmp:${h.Tmpfs['/tmp']}`, '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true',
    '--pids-limit', String(h.PidsLimit), '--memory', String(h.Memory), '--memory-swap', String(h.MemorySwap),
    '--cpus', String(h.NanoCpus / 1e9), '--log-driver', 'none', '-u', spec.User, '-w', spec.WorkingDir,
    '--label', 'aoetl.sandbox=1', '--label', 'aoetl.run=bench-cli'];
  for (const u of h.Ulimits) args.push('--ulimit', `${u.Name}=${u.Soft}:${u.Hard}`);
  return [...args, image, ...spec.Cmd];
}

function cliRun(runtime) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('docker', dockerRunArgs(runtime), { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, DOCKER_HOST: `unix://${socketPath}` } });
    child.stdout.resume();
    child.stdin.end(header);
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`docker run exited ${code}`))));
  });
}

async function driverRun(driver, runId, limits) {
  const t0 = performance.now();
  const result = await driver.run({ runId, code: IDENTITY, columns: [], types: [], input: empty(), output: sink(), limits });
  if (result.kind !== 'ok') throw new Error(`${runId}: ${JSON.stringify(result)}`);
  return { wall: performance.now() - t0, startMs: result.startMs, warm: result.warm };
}

async function startLatency(runtime) {
  const driver = await DockerSandboxDriver.create({ image, runtime, socketPath, limits: LIMITS, reapIntervalMs: 0 });
  const pooled = await DockerSandboxDriver.create({ image, runtime, socketPath, limits: LIMITS, reapIntervalMs: 0, pool: { size: 2 } });
  await cliRun(runtime); // warm the engine and page cache for both
  await driverRun(driver, 'bench-warmup');
  const cli = [];
  const cold = [];
  const warm = [];
  for (let i = 0; i < STARTS; i++) {
    cli.push(await cliRun(runtime));
    cold.push(await driverRun(driver, `bench-cold-${i}`));
    await pooled.warmUp(); // the pool is full, as between runs of a steady agent
    warm.push(await driverRun(pooled, `bench-warm-${i}`));
  }
  // back to back, without waiting for refills: how often the pool keeps up
  await pooled.warmUp();
  const burst = [];
  for (let i = 0; i < STARTS; i++) burst.push(await driverRun(pooled, `bench-burst-${i}`));
  await Promise.all([driver.close(), pooled.close()]);
  return {
    cli: median(cli),
    cold: median(cold.map((r) => r.wall)),
    coldStart: median(cold.map((r) => r.startMs)),
    warm: median(warm.map((r) => r.wall)),
    warmHits: warm.filter((r) => r.warm).length,
    acquireP50: percentile(warm.map((r) => r.startMs), 50),
    acquireP95: percentile(warm.map((r) => r.startMs), 95),
    burstHits: burst.filter((r) => r.warm).length,
  };
}

// ---------------------------------------------------------------- 1M rows

const COLUMNS = ['id', 'name', 'amount', 'created', 'active', 'note'];
const TYPES = ['int8', 'text', 'numeric', 'timestamptz', 'bool', 'text'];
const SRC = 'public.aoetl_bench_sandbox_src';
const DST_RAW = 'public.aoetl_bench_sandbox_raw';
const DST_SANDBOX = 'public.aoetl_bench_sandbox_out';

function prepareRows() {
  psql('warehouse', `SET client_min_messages = warning; DROP TABLE IF EXISTS ${SRC}, ${DST_RAW}, ${DST_SANDBOX};
    CREATE TABLE ${SRC} AS SELECT g::int8 AS id, 'name-' || g AS name, (g * 1.25)::numeric(14,2) AS amount,
      timestamptz '2024-01-01' + g * interval '1 second' AS created, g % 2 = 0 AS active, md5(g::text) AS note
      FROM generate_series(1, ${ROWS}) g;
    CREATE TABLE ${DST_RAW} (LIKE ${SRC}); CREATE TABLE ${DST_SANDBOX} (LIKE ${SRC}); ANALYZE ${SRC};`);
  return Number(psql('warehouse', `SELECT pg_total_relation_size('${SRC}') / 1e6`));
}

const psqlArgs = (sql) => ['-u', 'postgres', '--', 'psql', '-h', SOCKET, '-p', '5433', '-d', 'warehouse', '-v', 'ON_ERROR_STOP=1', '-XAtqc', sql];

async function rawPipe() {
  psql('warehouse', `TRUNCATE ${DST_RAW}`);
  const t0 = performance.now();
  shellAsPostgres(`psql -h ${SOCKET} -p 5433 -d warehouse -Xqc "COPY ${SRC} TO STDOUT" | psql -h ${SOCKET} -p 5433 -d warehouse -Xqc "COPY ${DST_RAW} FROM STDIN"`);
  return performance.now() - t0;
}

async function sandboxPipe(runtime) {
  psql('warehouse', `TRUNCATE ${DST_SANDBOX}`);
  const driver = await DockerSandboxDriver.create({ image, runtime, socketPath, limits: DATA_LIMITS, reapIntervalMs: 0 });
  const t0 = performance.now();
  const source = spawn('runuser', psqlArgs(`COPY ${SRC} TO STDOUT`), { stdio: ['ignore', 'pipe', 'inherit'] });
  const target = spawn('runuser', psqlArgs(`COPY ${DST_SANDBOX} FROM STDIN`), { stdio: ['pipe', 'ignore', 'inherit'] });
  const targetDone = new Promise((resolve, reject) => target.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`target psql exited ${c}`)))));
  const result = await driver.run({ runId: `bench-1m-${runtime}`, code: IDENTITY, columns: COLUMNS, types: TYPES, input: source.stdout, output: target.stdin });
  if (result.kind !== 'ok') {
    targetDone.catch(() => undefined);
    source.kill();
    target.kill(); // they hold locks the cleanup's DROP TABLE would wait for
    await driver.close();
    throw new Error(`${ROWS} rows under ${runtime}: ${JSON.stringify(result).slice(0, 1000)}`);
  }
  target.stdin.end();
  await targetDone;
  const wall = performance.now() - t0;
  await driver.close();
  const loaded = Number(psql('warehouse', `SELECT count(*) FROM ${DST_SANDBOX}`));
  if (loaded !== ROWS) throw new Error(`loaded ${loaded} rows, expected ${ROWS}`);
  const same = psql('warehouse', `SELECT count(*) FROM (SELECT * FROM ${SRC} EXCEPT ALL SELECT * FROM ${DST_SANDBOX}) d`);
  if (same !== '0') throw new Error(`identity transform changed ${same} rows`);
  return wall;
}

// ---------------------------------------------------------------- main

const starts = {};
for (const runtime of RUNTIMES) starts[runtime] = await startLatency(runtime);

console.log(`\nSandbox start (median of ${STARTS}; empty input, identity transform, same flags as the driver)`);
table([
  ['runtime', 'docker run CLI', 'driver cold', 'cold/CLI', 'driver warm', 'warm/cold', 'acquire p50', 'acquire p95', 'pool hits', 'back-to-back hits'],
  ...RUNTIMES.map((rt) => {
    const s = starts[rt];
    return [rt, fmt(s.cli), fmt(s.cold), ratio(s.cold, s.cli), fmt(s.warm), ratio(s.warm, s.cold), `${s.acquireP50} ms`, `${s.acquireP95} ms`,
      `${s.warmHits}/${STARTS}`, `${s.burstHits}/${STARTS}`];
  }),
]);
console.log(`runsc/runc: cold ${ratio(starts.runsc.cold, starts.runc.cold)}, warm ${ratio(starts.runsc.warm, starts.runc.warm)}, CLI ${ratio(starts.runsc.cli, starts.runc.cli)}`);

const mb = prepareRows();
try {
  const raw = [await rawPipe(), await rawPipe()];
  const sandboxed = {};
  for (const runtime of RUNTIMES) sandboxed[runtime] = await sandboxPipe(runtime);
  const rawMs = Math.min(...raw);
  console.log(`\n${ROWS.toLocaleString('en')} rows (${mb.toFixed(0)} MB table, 6 columns), warehouse → warehouse`);
  table([
    ['path', 'wall', 'rows/s', 'ratio to raw pipe'],
    ['raw psql COPY | psql COPY (best of 2)', fmt(rawMs), Math.round(ROWS / (rawMs / 1000)).toLocaleString('en'), '1.00x'],
    ...RUNTIMES.map((rt) => [`psql → sandbox identity (${rt}) → psql`, fmt(sandboxed[rt]), Math.round(ROWS / (sandboxed[rt] / 1000)).toLocaleString('en'), ratio(sandboxed[rt], rawMs)]),
  ]);
  console.log(`runsc/runc (${ROWS.toLocaleString('en')} rows): ${ratio(sandboxed.runsc, sandboxed.runc)}`);
} finally {
  psql('warehouse', `DROP TABLE IF EXISTS ${SRC}, ${DST_RAW}, ${DST_SANDBOX}`);
}
