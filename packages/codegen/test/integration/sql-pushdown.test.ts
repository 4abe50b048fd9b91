/**
 * sqlFromPlan against the real PostgreSQL of the local stack (make up): for plans whose every step
 * has SQL, the SELECT over a table of dirty rows returns the same rows as the compiled Python run
 * through the real harness. Needs the stack's superuser socket (test.env); a missing stack fails.
 */
import { execFileSync } from 'node:child_process';
import { stackEnv } from '@aoetl/testing';
import { planFromInstruction, sqlFromPlan, type Column } from '../../src/index.js';
import { fromCopyText, runHarness, type Value } from '../support/harness.js';

const COLUMNS: Column[] = [
  { name: 'id', type: 'int8' },
  { name: 'email', type: 'text' },
  { name: 'name', type: 'text' },
  { name: 'amount', type: 'numeric' },
  { name: 'status', type: 'text' },
  { name: 'country', type: 'text' },
  { name: 'qty', type: 'int4' },
];

const ROWS: Record<string, Value>[] = [
  { id: 1, email: '  Ann@Corp.com ', name: 'ann   lee', amount: '10.50', status: 'paid', country: 'FR', qty: 3 },
  { id: 2, email: 'bob@x.org', name: 'Bob', amount: '5', status: 'shipped', country: null, qty: 1 },
  { id: 3, email: null, name: 'Dana', amount: null, status: 'paid', country: 'DE', qty: null },
  { id: 4, email: '   ', name: 'Evan\tStone', amount: '99.99', status: 'cancelled', country: '  ', qty: 7 },
  { id: 5, email: 'CAROL@x.org', name: null, amount: '12.00', status: 'shipped', country: 'DE', qty: 2 },
  { id: 6, email: "o'neil@y.com", name: 'Jo O\'Neil', amount: '-3.25', status: null, country: 'FR', qty: 5 },
];

const INSTRUCTIONS = [
  'trim and lowercase email, drop rows with a missing email',
  "keep rows where status is one of 'paid', 'shipped' and amount >= 10",
  "drop rows where country is 'FR'",
  "fill missing country with 'unknown', then group by country and compute sum(amount) as total, count(*) as n, min(qty) as min_qty",
  'hash email into h, rename name to full_name, keep id, full_name and h',
  "collapse whitespace in name, uppercase country, keep rows where name contains 'an', case-insensitive",
  'keep rows where email ends with ".org" or qty > 4, then sort by qty descending',
];

function literal(v: Value | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `'${v.replace(/'/g, "''")}'`;
}

/** Creates the rows in a temporary table and runs `select` over it; returns COPY text rows. */
function runSql(select: string): (string | null)[][] {
  const env = stackEnv('test');
  const socket = env.AOETL_PG_SUPERUSER_SOCKET;
  if (!socket) throw new Error('AOETL_PG_SUPERUSER_SOCKET missing from test.env: the local stack is not up');
  const create = `CREATE TEMP TABLE src (${COLUMNS.map((c) => `"${c.name}" ${c.type}`).join(', ')});`;
  const insert = `INSERT INTO src VALUES ${ROWS.map((r) => `(${COLUMNS.map((c) => literal(r[c.name])).join(', ')})`).join(', ')};`;
  const out = execFileSync(
    'runuser',
    ['-u', 'postgres', '--', 'psql', '-q', '-h', socket, '-p', env.AOETL_PG_PORT ?? '5433', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-AtX', '-c', `${create} ${insert} COPY (${select}) TO STDOUT`],
    { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC', PGTZ: 'UTC' } },
  );
  return out.split('\n').slice(0, -1).map((l) => l.split('\t').map(fromCopyText));
}

describe('sqlFromPlan on PostgreSQL equals the Python transform in the harness', () => {
  it.each(INSTRUCTIONS)('%s', (instruction) => {
    const planned = planFromInstruction(instruction, COLUMNS);
    if (!planned.ok) throw new Error(`refused "${planned.clause}": ${planned.reason}`);
    const sql = sqlFromPlan(planned.plan, 'src', COLUMNS);
    expect(sql).not.toBeNull();
    const python = runHarness(planned.code, COLUMNS, ROWS);
    const fromSql = runSql(sql!);
    const key = (rows: (string | null)[][]): string[] => rows.map((r) => JSON.stringify(r)).sort();
    expect(python.rows.length).toBeGreaterThan(0);
    expect(key(fromSql)).toEqual(key(python.rows));
    if (planned.plan.at(-1)?.op === 'sort') expect(fromSql).toEqual(python.rows);
  });
});
