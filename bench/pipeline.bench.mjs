// End-to-end loads through aoetl (gateway → orchestrator → etl-agent with Vault credentials and the gVisor
// sandbox → warehouse) against the raw `psql COPY … TO STDOUT | psql COPY … FROM STDIN` pipe, side by side.
import { api, measure, median, psql, shellAsPostgres, SOCKET, table, token } from './lib.mjs';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const COLS = 'id bigint PRIMARY KEY, name text, email text, amount numeric(12,2), created_at timestamptz, note text';

function setup() {
  psql('source', `CREATE SCHEMA IF NOT EXISTS bench; GRANT USAGE ON SCHEMA bench TO source_read;
    DROP TABLE IF EXISTS bench.rows_big, bench.rows_10;
    CREATE TABLE bench.rows_big (${COLS});
    INSERT INTO bench.rows_big SELECT g, 'name ' || g, 'user' || g || '@example.com', (g % 100000) / 100.0,
      timestamptz '2024-01-01' + g * interval '1 second', repeat('x', 20) FROM generate_series(1, ${ROWS}) g;
    CREATE TABLE bench.rows_10 AS SELECT * FROM bench.rows_big WHERE id <= 10; ALTER TABLE bench.rows_10 ADD PRIMARY KEY (id);
    GRANT SELECT ON bench.rows_big, bench.rows_10 TO source_read; ANALYZE bench.rows_big;`);
  const plain = COLS.replace(' PRIMARY KEY', '');
  psql('warehouse', `DROP TABLE IF EXISTS silver.bench_aoetl, silver.bench_raw;
    CREATE TABLE silver.bench_aoetl (${plain}); ALTER TABLE silver.bench_aoetl OWNER TO warehouse_load;
    CREATE TABLE silver.bench_raw (${plain});`);
}

function rawPipe(table) {
  return measure(async () =>
    shellAsPostgres(
      `psql -h ${SOCKET} -p 5433 -d source -Xqc "COPY ${table} TO STDOUT" | psql -h ${SOCKET} -p 5433 -d warehouse -Xqc "COPY silver.bench_raw FROM STDIN"`,
    ),
  );
}

async function aoetlRun(bearer, pipelineId) {
  const { runId } = await api('POST', `/v1/pipelines/${pipelineId}/runs`, bearer);
  for (;;) {
    const run = await api('GET', `/v1/runs/${runId}`, bearer);
    if (run.status === 'succeeded') return run;
    if (run.status === 'failed') throw new Error(`run failed: ${JSON.stringify(run.error)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function pipeline(bearer, table, transform = { kind: 'python', code: 'def transform(rows):\n    return rows\n' }) {
  return api('POST', '/v1/pipelines', bearer, {
    name: `bench-${transform.kind}-${table.split('.')[1].replace('_', '-')}-${Date.now()}`,
    source: { connection: 'crm-source', table },
    target: { connection: 'warehouse', table: 'silver.bench_aoetl', mode: 'append' },
    transform,
  });
}

setup();
const bearer = token();
const truncate = () => psql('warehouse', 'TRUNCATE silver.bench_aoetl, silver.bench_raw');

// 1. Submit-to-succeeded latency of a 10-row pipeline (median of 5) vs the raw pipe of the same 10 rows.
const small = await pipeline(bearer, 'bench.rows_10');
const lat = { aoetl: [], raw: [] };
for (let i = 0; i < 5; i++) {
  truncate();
  lat.aoetl.push((await measure(() => aoetlRun(bearer, small.id))).wall);
  lat.raw.push((await rawPipe('bench.rows_10')).wall);
}

// 2. The whole table, identity transform, once each.
truncate();
const big = await pipeline(bearer, 'bench.rows_big');
let run;
const a = await measure(async () => (run = await aoetlRun(bearer, big.id)));
const r = await rawPipe('bench.rows_big');
const loaded = psql('warehouse', 'SELECT count(*) FROM silver.bench_aoetl');

// 3. The whole table through a sql transform (pushed down: COPY to COPY, no sandbox), once.
truncate();
const pushed = await pipeline(bearer, 'bench.rows_big', { kind: 'sql', query: 'SELECT * FROM bench.rows_big' });
const q = await measure(() => aoetlRun(bearer, pushed.id));
const loadedSql = psql('warehouse', 'SELECT count(*) FROM silver.bench_aoetl');
const mb = Number(psql('source', `SELECT pg_total_relation_size('bench.rows_big') / 1e6`));

console.log(`rows: ${ROWS} (${mb.toFixed(0)} MB on disk); aoetl loaded ${loaded} rows in ${run.chunks ?? 4} chunks, sandbox runtime from the etl-agent config; the sql transform loaded ${loadedSql} rows in one chunk`);
table([
  ['measure', 'aoetl', 'raw psql pipe', 'ratio aoetl/raw'],
  ['10-row submit→succeeded (median of 5), s', median(lat.aoetl).toFixed(3), median(lat.raw).toFixed(3), (median(lat.aoetl) / median(lat.raw)).toFixed(1)],
  [`${ROWS}-row load wall, s`, a.wall.toFixed(2), r.wall.toFixed(2), (a.wall / r.wall).toFixed(2)],
  [`${ROWS}-row load machine CPU, s`, a.cpu.toFixed(2), r.cpu.toFixed(2), (a.cpu / r.cpu).toFixed(2)],
  [`${ROWS}-row throughput, rows/s`, (ROWS / a.wall).toFixed(0), (ROWS / r.wall).toFixed(0), (r.wall / a.wall).toFixed(2)],
  [`${ROWS}-row sql push-down wall, s`, q.wall.toFixed(2), r.wall.toFixed(2), (q.wall / r.wall).toFixed(2)],
  [`${ROWS}-row sql push-down machine CPU, s`, q.cpu.toFixed(2), r.cpu.toFixed(2), (q.cpu / r.cpu).toFixed(2)],
]);
psql('warehouse', 'DROP TABLE silver.bench_aoetl, silver.bench_raw');
