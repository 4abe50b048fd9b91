/**
 * The commit's write modes, provisioning, schema drift, quality gates and the watermark against the real source
 * and warehouse databases of the local stack. The loader's sessions are those a dynamic credential gets (a login
 * role IN ROLE warehouse_load / source_read with `SET role`, as the Vault roles create them); chunks are staged as
 * `loadChunk` stages them (a staging table per chunk and its ledger row), with rows extracted from the source by the
 * same window predicate. Every expectation is a SQL query.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import pino from 'pino';
import type { CommitTask, ConnectionDescriptor, OutputColumn, QualityCheck, TaskIncremental } from '@aoetl/contracts';
import { connectAs, psqlAdmin } from '@aoetl/testing';
import { LEDGER, commitOnTarget } from '../../src/load.js';
import { LoadFailure } from '../../src/failure.js';
import { quoteIdent, stagingTable } from '../../src/sql.js';
import { fixWindow, watermarkType, windowPredicate } from '../../src/watermark.js';

jest.setTimeout(120_000);

const log = pino({ level: 'silent' });
const hex = () => randomBytes(4).toString('hex');
const descriptor: ConnectionDescriptor = { name: 'warehouse', kind: 'postgres', host: '127.0.0.1', port: 5433, database: 'warehouse', vaultRole: 'x' };
const OUT: OutputColumn[] = [
  { name: 'id', type: 'int8' },
  { name: 'email', type: 'text' },
  { name: 'amount', type: 'numeric(10,2)' },
];

/** A login like the one Vault creates for a run: a member of `group`, acting as it. */
function loginIn(group: string, database: string): { username: string; password: string } {
  const username = `it_loads_${hex()}`;
  const password = randomBytes(12).toString('hex');
  psqlAdmin(
    database,
    `CREATE ROLE "${username}" LOGIN PASSWORD '${password}' VALID UNTIL '${new Date(Date.now() + 3_600_000).toISOString()}' IN ROLE ${group};
     ALTER ROLE "${username}" SET role = '${group}';`,
  );
  return { username, password };
}

let tgt: pg.Client;
let src: pg.Client;
const logins: string[] = [];

beforeAll(async () => {
  const w = loginIn('warehouse_load', 'warehouse');
  const s = loginIn('source_read', 'source');
  logins.push(w.username, s.username);
  tgt = await connectAs(w, 'warehouse');
  src = await connectAs(s, 'source');
});
afterAll(async () => {
  await tgt?.end();
  await src?.end();
  for (const l of logins) psqlAdmin('postgres', `DROP ROLE IF EXISTS "${l}"`);
});

const rowsOf = (db: string, table: string) =>
  psqlAdmin(db, `SELECT coalesce(string_agg(id || ':' || coalesce(email, '-') || ':' || coalesce(amount::text, '-'), ',' ORDER BY id), '') FROM ${table}`);
const columnsOf = (table: string) =>
  psqlAdmin('warehouse', `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
                          WHERE attrelid = '${table}'::regclass AND attnum > 0 AND NOT attisdropped`);
const targetTable = (columns?: string, rows?: string): string => {
  const table = `silver.loads_it_${hex()}`;
  if (columns) {
    psqlAdmin('warehouse', `CREATE TABLE ${table} (${columns}); ALTER TABLE ${table} OWNER TO warehouse_load;${rows ? ` INSERT INTO ${table} VALUES ${rows};` : ''}`);
  }
  return table;
};

/** Stages `chunks` (VALUES lists, one per chunk) for a new run, as loadChunk does, in the output's shape. */
async function stage(chunks: string[], output: OutputColumn[] = OUT): Promise<string> {
  const runId = randomUUID();
  for (const [i, values] of chunks.entries()) {
    const staging = stagingTable(runId, i);
    await tgt.query('BEGIN');
    await tgt.query(`INSERT INTO ${LEDGER} (run_id, chunk) VALUES ($1, $2)`, [runId, i]);
    await tgt.query(`CREATE TABLE ${staging} (${output.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`);
    if (values) await tgt.query(`INSERT INTO ${staging} VALUES ${values}`);
    await tgt.query('COMMIT');
  }
  return runId;
}

function commitTask(runId: string, chunks: number, target: Partial<CommitTask['payload']['target']> & { table: string }, extra: Partial<CommitTask['payload']> = {}): CommitTask['payload'] {
  return {
    taskId: randomUUID(),
    runId,
    tenant: 'acme',
    action: 'commit',
    chunks,
    target: { connection: descriptor, mode: 'append', keys: [], ...target },
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<LoadFailure> {
  const err = await p.then(() => null, (e: unknown) => e);
  if (!(err instanceof LoadFailure)) throw new Error(`expected a LoadFailure, got ${String(err)}`);
  return err;
}
const stagingLeft = (runId: string) =>
  psqlAdmin('warehouse', `SELECT count(*) FROM pg_tables WHERE schemaname = 'aoetl_staging' AND tablename LIKE 'r_${runId.replace(/-/g, '')}_%'`);
const committed = (runId: string) => psqlAdmin('warehouse', `SELECT count(*) FROM ${LEDGER} WHERE run_id = '${runId}' AND chunk = -1`);

describe('write modes on the real warehouse', () => {
  test('replace swaps every row of the target in the commit\'s transaction', async () => {
    const table = targetTable('id int8, email text, amount numeric(10,2)', "(100, 'old@x', 1), (101, 'old2@x', 2)");
    const runId = await stage(["(1, 'a@x', 1.5)", "(2, 'b@x', 2.5), (3, 'c@x', 3.5)"]);
    const res = await commitOnTarget(tgt, commitTask(runId, 2, { table, mode: 'replace' }), log);
    expect(res.rowsOut).toBe(3);
    expect(rowsOf('warehouse', table)).toBe('1:a@x:1.50,2:b@x:2.50,3:c@x:3.50');
    expect(stagingLeft(runId)).toBe('0');
    // A repeated commit is a no-op.
    await commitOnTarget(tgt, commitTask(runId, 2, { table, mode: 'replace' }), log);
    expect(rowsOf('warehouse', table)).toBe('1:a@x:1.50,2:b@x:2.50,3:c@x:3.50');
  });

  test('create: true makes the table from the output (merge keys as primary key); merge updates on keys', async () => {
    const table = targetTable();
    const target = { table, mode: 'merge' as const, keys: ['id'], create: true };
    const first = await stage(["(1, 'a@x', 1), (2, 'b@x', 2)"]);
    await commitOnTarget(tgt, commitTask(first, 1, target, { output: OUT }), log);
    expect(columnsOf(table)).toBe('id bigint, email text, amount numeric(10,2)');
    expect(psqlAdmin('warehouse', `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '${table}'::regclass AND contype = 'p'`)).toBe('PRIMARY KEY (id)');
    expect(psqlAdmin('warehouse', `SELECT tableowner FROM pg_tables WHERE schemaname || '.' || tablename = '${table}'`)).toBe('warehouse_load');
    const second = await stage(["(2, 'b2@x', 20), (3, 'c@x', 3)"]);
    await commitOnTarget(tgt, commitTask(second, 1, target, { output: OUT }), log);
    expect(rowsOf('warehouse', table)).toBe('1:a@x:1.00,2:b2@x:20.00,3:c@x:3.00');
  });

  test('never provisions in the loader\'s own schema', async () => {
    // A stored watermark that a replace into aoetl_staging.watermarks would delete.
    const sentinel = `loads-test-sentinel-${Date.now()}`;
    psqlAdmin('warehouse', `INSERT INTO aoetl_staging.watermarks (stream, value, run_id) VALUES ('${sentinel}', '1', gen_random_uuid())`);
    const runId = await stage(["(1, 'a@x', 1)"]);
    const err = await failure(commitOnTarget(tgt, commitTask(runId, 1, { table: 'aoetl_staging.watermarks', mode: 'replace', create: true }, { output: OUT }), log));
    expect(err.reason).toMatchObject({ code: 'input', message: expect.stringContaining('schema aoetl_staging') });
    const noOutput = await stage(["(1, 'a@x', 1)"]);
    const err2 = await failure(commitOnTarget(tgt, commitTask(noOutput, 1, { table: 'aoetl_staging.load_ledger', mode: 'replace' }), log));
    expect(err2.reason).toMatchObject({ code: 'input', message: 'aoetl never loads into schema aoetl_staging' });
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM aoetl_staging.watermarks WHERE stream = '${sentinel}'`)).toBe('1');
    psqlAdmin('warehouse', `DELETE FROM aoetl_staging.watermarks WHERE stream = '${sentinel}'`);
  });

  test('without create, a missing target fails the commit with target_missing and creates nothing', async () => {
    const table = targetTable();
    const runId = await stage(["(1, 'a@x', 1)"]);
    const err = await failure(commitOnTarget(tgt, commitTask(runId, 1, { table }, { output: OUT }), log));
    expect(err.reason.code).toBe('target_missing');
    expect(psqlAdmin('warehouse', `SELECT to_regclass('${table}') IS NULL`)).toBe('t');
    expect(committed(runId)).toBe('0');
  });
});

describe('schema drift on the real warehouse', () => {
  const base = 'id int8 PRIMARY KEY, email text, amount numeric(10,2)';
  const target = (table: string) => ({ table, mode: 'merge' as const, keys: ['id'] });

  test('a dropped or retyped column fails with schema_drift and leaves the target as it was', async () => {
    const table = targetTable(base, "(1, 'a@x', 1)");
    const dropped = await stage(["(2, 'b@x')"], OUT.slice(0, 2));
    const e1 = await failure(commitOnTarget(tgt, commitTask(dropped, 1, target(table), { output: OUT.slice(0, 2) }), log));
    expect(e1.reason.code).toBe('schema_drift');
    expect(e1.reason.message).toContain('column amount (numeric(10,2)) is no longer in the output');
    const retypedOut = [...OUT.slice(0, 2), { name: 'amount', type: 'text' }];
    const retyped = await stage(["(2, 'b@x', 'x')"], retypedOut);
    const e2 = await failure(commitOnTarget(tgt, commitTask(retyped, 1, target(table), { output: retypedOut }), log));
    expect(e2.reason.code).toBe('schema_drift');
    expect(e2.reason.message).toContain('column amount is numeric(10,2) in the target, text in the output');
    expect(columnsOf(table)).toBe('id bigint, email text, amount numeric(10,2)');
    expect(rowsOf('warehouse', table)).toBe('1:a@x:1.00');
    expect(committed(dropped) + committed(retyped)).toBe('00');
  });

  test('a new output column is added as a nullable column, in the same transaction as the rows', async () => {
    const table = targetTable(base, "(1, 'a@x', 1)");
    const out = [...OUT, { name: 'country', type: 'text' }];
    const runId = await stage(["(2, 'b@x', 2, 'FR')"], out);
    await commitOnTarget(tgt, commitTask(runId, 1, target(table), { output: out }), log);
    expect(columnsOf(table)).toBe('id bigint, email text, amount numeric(10,2), country text');
    expect(psqlAdmin('warehouse', `SELECT string_agg(coalesce(country, '-'), ',' ORDER BY id) FROM ${table}`)).toBe('-,FR');
    expect(psqlAdmin('warehouse', `SELECT attnotnull FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attname = 'country'`)).toBe('f');
  });

  test('allowed breaking drift drops and retypes the target\'s columns', async () => {
    const table = targetTable(`${base}, note text`, "(1, 'a@x', 1, 'n')");
    const out = [{ name: 'id', type: 'int8' }, { name: 'email', type: 'text' }, { name: 'amount', type: 'text' }];
    const runId = await stage(["(2, 'b@x', '2.50')"], out);
    await commitOnTarget(tgt, commitTask(runId, 1, { ...target(table), allowBreakingDrift: true }, { output: out }), log);
    expect(columnsOf(table)).toBe('id bigint, email text, amount text');
    expect(rowsOf('warehouse', table)).toBe('1:a@x:1.00,2:b@x:2.50');
  });
});

describe('quality gates on the real warehouse', () => {
  const checks: QualityCheck[] = [
    { kind: 'not_null', column: 'email' },
    { kind: 'unique', columns: ['id'] },
    { kind: 'accepted_values', column: 'email', values: ['a@x', 'b@x'] },
    { kind: 'range', column: 'amount', min: 0, max: 100 },
    { kind: 'row_count', min: 1, max: 10 },
    { kind: 'row_count_change', maxPercent: 50 },
  ];

  test('a failing gate commits nothing: target, ledger and staging as they were, every result reported', async () => {
    const table = targetTable('id int8, email text, amount numeric(10,2)', "(100, 'old@x', 1)");
    const runId = await stage(["(1, 'a@x', 1), (1, 'b@x', 2)", "(2, NULL, -3), (3, 'zz@x', 500)"]);
    const err = await failure(commitOnTarget(tgt, commitTask(runId, 2, { table, mode: 'replace' }, { checks, baselineRows: 2 }), log));
    expect(err.reason.code).toBe('quality_check_failed');
    expect(err.reason.checks!.map((c) => [c.name, c.passed, c.observed])).toEqual([
      ['not_null:email', false, 1],
      ['unique:id', false, 2],
      ['accepted_values:email', false, 1],
      ['range:amount', false, 2],
      ['row_count', true, 4],
      ['row_count_change', false, 4],
    ]);
    expect(err.reason.checks![3]!.examples!.sort()).toEqual(['-3.00', '500.00']);
    // Messages carry counts and settings, never row values.
    expect(err.reason.checks!.map((c) => c.message).join(' ')).not.toMatch(/zz@x|500\.00|-3\.00/);
    expect(rowsOf('warehouse', table)).toBe('100:old@x:1.00');
    expect(committed(runId)).toBe('0');
    expect(stagingLeft(runId)).toBe('2');
  });

  test('an expression assertion runs as generated SQL: offending rows counted, text as parameters, nothing committed', async () => {
    const table = targetTable('id int8, email text, amount numeric(10,2)');
    const runId = await stage(["(1, 'a@x', 1), (2, 'b@x', 20), (3, NULL, 5)"]);
    const expression: QualityCheck = { kind: 'expression', expression: "amount * 2 <= 30 AND (email <> 'x''; DROP TABLE t; --' OR id IN (1, 2))" };
    const err = await failure(commitOnTarget(tgt, commitTask(runId, 1, { table }, { checks: [expression] }), log));
    // Row 2: 40 > 30; row 3: email NULL makes the expression NULL, which fails too.
    expect(err.reason.checks).toEqual([expect.objectContaining({ name: 'expression', passed: false, observed: 2 })]);
    expect(err.reason.checks![0]!.examples!.sort()).toEqual(['(20.00,b@x,2)', '(5.00,,3)']); // the columns it reads, in its order
    expect(rowsOf('warehouse', table)).toBe('');
    const ok = await stage(["(1, 'a@x', 1)"]);
    const res = await commitOnTarget(tgt, commitTask(ok, 1, { table }, { checks: [expression] }), log);
    expect(res.checks).toEqual([expect.objectContaining({ passed: true, observed: 0 })]);
  });

  test('passing gates commit, with their results', async () => {
    const table = targetTable('id int8, email text, amount numeric(10,2)');
    const runId = await stage(["(1, 'a@x', 1), (2, 'b@x', 2)"]);
    const res = await commitOnTarget(tgt, commitTask(runId, 1, { table }, { checks, baselineRows: null }), log);
    expect(res.checks!.every((c) => c.passed)).toBe(true);
    expect(res.checks![5]!.message).toContain('no earlier successful run');
    expect(rowsOf('warehouse', table)).toBe('1:a@x:1.00,2:b@x:2.00');
  });
});

describe('incremental loads on the real source and warehouse', () => {
  const source = `crm.loads_it_${hex()}`;
  beforeAll(() => {
    psqlAdmin('source', `CREATE TABLE ${source} (id bigint PRIMARY KEY, email text, amount numeric(10,2));
                         INSERT INTO ${source} SELECT g, 'u' || g || '@x', g FROM generate_series(1, 5) g;`);
  });
  const stream = `it-${hex()}:${source}:id`;
  const inc = (fullRefresh = false): TaskIncremental => ({ column: 'id', stream, fullRefresh });
  const stored = () => psqlAdmin('warehouse', `SELECT coalesce(value, 'null') FROM aoetl_staging.watermarks WHERE stream = '${stream}'`);

  /** One incremental run as its chunks and commit do it: window, extraction per chunk (hash split), staging, commit. */
  async function incrementalRun(table: string, chunks: number, extra: Partial<CommitTask['payload']> = {}, fullRefresh = false) {
    const runId = randomUUID();
    const type = await watermarkType(src, source, 'id');
    const window = await fixWindow(src, tgt, runId, source, inc(fullRefresh), type);
    const again = await fixWindow(src, tgt, runId, source, inc(fullRefresh), type);
    expect(again).toEqual(window); // every chunk of the run reads the same window
    for (let i = 0; i < chunks; i++) {
      const pred = windowPredicate(window, type, (v) => src.escapeLiteral(v));
      const { rows } = await src.query(`SELECT id, email, amount FROM ${source} t WHERE mod(id, ${chunks}) = ${i} AND ${pred}`);
      const staging = stagingTable(runId, i);
      await tgt.query('BEGIN');
      await tgt.query(`INSERT INTO ${LEDGER} (run_id, chunk) VALUES ($1, $2)`, [runId, i]);
      await tgt.query(`CREATE TABLE ${staging} (id int8, email text, amount numeric(10,2))`);
      for (const r of rows) await tgt.query(`INSERT INTO ${staging} VALUES ($1, $2, $3)`, [r.id, r.email, r.amount]);
      await tgt.query('COMMIT');
    }
    const result = await commitOnTarget(tgt, commitTask(runId, chunks, { table }, { incremental: inc(fullRefresh), ...extra }), log).catch((e: unknown) => e);
    return { runId, window, result };
  }

  test('three runs load exactly the new rows; a failed run does not move the watermark; a conflicting run commits nothing', async () => {
    const table = targetTable('id int8, email text, amount numeric(10,2)');
    const r1 = await incrementalRun(table, 2);
    expect(r1.window).toMatchObject({ from: null, to: '5' });
    expect(rowsOf('warehouse', table)).toBe(rowsOf('source', source));
    expect(stored()).toBe('5');

    psqlAdmin('source', `INSERT INTO ${source} SELECT g, 'u' || g || '@x', g FROM generate_series(6, 8) g`);
    const r2 = await incrementalRun(table, 3);
    expect(r2.window).toMatchObject({ from: '5', to: '8' });
    expect((r2.result as { rowsOut: number }).rowsOut).toBe(3);
    expect(rowsOf('warehouse', table)).toBe(rowsOf('source', source));

    // A run failing its gate: nothing committed, the watermark stays at 8.
    psqlAdmin('source', `INSERT INTO ${source} VALUES (9, NULL, 9), (10, 'u10@x', 10)`);
    const failed = await incrementalRun(table, 2, { checks: [{ kind: 'not_null', column: 'email' }] });
    expect((failed.result as LoadFailure).reason.code).toBe('quality_check_failed');
    expect(stored()).toBe('8');
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${table}`)).toBe('8');

    psqlAdmin('source', `UPDATE ${source} SET email = 'u9@x' WHERE id = 9`);
    const r3 = await incrementalRun(table, 2);
    expect(r3.window).toMatchObject({ from: '8', to: '10' });
    expect(rowsOf('warehouse', table)).toBe(rowsOf('source', source));
    expect(psqlAdmin('warehouse', `SELECT count(*) || ':' || count(DISTINCT id) FROM ${table}`)).toBe('10:10');
    expect(stored()).toBe('10');

    // Two runs fixed from the same watermark: the first to commit wins, the other commits nothing.
    psqlAdmin('source', `INSERT INTO ${source} VALUES (11, 'u11@x', 11)`);
    const a = randomUUID();
    const b = randomUUID();
    const type = await watermarkType(src, source, 'id');
    await fixWindow(src, tgt, a, source, inc(), type);
    await fixWindow(src, tgt, b, source, inc(), type);
    for (const runId of [a, b]) {
      await tgt.query('BEGIN');
      await tgt.query(`INSERT INTO ${LEDGER} (run_id, chunk) VALUES ($1, 0)`, [runId]);
      await tgt.query(`CREATE TABLE ${stagingTable(runId, 0)} AS SELECT 11::int8 AS id, 'u11@x'::text AS email, 11::numeric(10,2) AS amount`);
      await tgt.query('COMMIT');
    }
    await commitOnTarget(tgt, commitTask(a, 1, { table }, { incremental: inc() }), log);
    const conflict = await failure(commitOnTarget(tgt, commitTask(b, 1, { table }, { incremental: inc() }), log));
    expect(conflict.reason.code).toBe('watermark_conflict');
    expect(psqlAdmin('warehouse', `SELECT count(*) || ':' || count(DISTINCT id) FROM ${table}`)).toBe('11:11');
    expect(stored()).toBe('11');
  });

  test('a full refresh reads every row and still moves the stored watermark', async () => {
    const table = targetTable('id int8 PRIMARY KEY, email text, amount numeric(10,2)');
    const full = await incrementalRun(table, 1, {}, true);
    expect(full.window).toMatchObject({ fullRefresh: true, from: '11', to: '11' });
    expect(rowsOf('warehouse', table)).toBe(rowsOf('source', source));
    expect(stored()).toBe('11');
  });

  test('a watermark column that is missing or not monotonic fails with input', async () => {
    await expect(watermarkType(src, source, 'nope')).rejects.toMatchObject({ reason: { code: 'input' } });
    await expect(watermarkType(src, source, 'email')).rejects.toMatchObject({ reason: { code: 'input', message: expect.stringContaining('is text') } });
  });
});
