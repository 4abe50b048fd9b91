/**
 * sql transforms pushed down, against the real PostgreSQL, OpenBao and dynamic credentials of the local stack:
 * the rows loaded equal an independently written SQL expectation; a statement timeout fails the chunk with nothing
 * staged or committed; and each layer behind the static guard refuses writes on its own (the read-only
 * transaction with a role that could write; the SELECT-only role in a transaction that could write).
 */
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { type ConnectionDescriptor, type LoadTask } from '@aoetl/contracts';
import { VaultSecretStore } from '@aoetl/secrets';
import { connectAs, psqlAdmin, stackEnv, STATE, warehouseTable } from '@aoetl/testing';
import pino from 'pino';
import { beginPushdown, commitRun, copyOutOf, LoadFailure, loadSqlChunk, loadTaskChunk, type LoadDeps, type TransformRunner } from '../../src/index.js';

jest.setTimeout(120_000);

const env = stackEnv('test');
const silent = pino({ level: 'silent' });
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

const source: ConnectionDescriptor = {
  name: 'crm-source', kind: 'postgres', host: '127.0.0.1', port: 5433, database: 'source', vaultRole: 'database/creds/source-reader',
};
const warehouse: ConnectionDescriptor = {
  name: 'warehouse', kind: 'postgres', host: '127.0.0.1', port: 5433, database: 'warehouse', vaultRole: 'database/creds/warehouse-writer',
};

const secrets = new VaultSecretStore({
  endpoint: env.AOETL_VAULT_ADDR!,
  caFile: env.AOETL_VAULT_CACERT!,
  auth: { method: 'token', token: env.AOETL_VAULT_TOKEN! },
  logger: silent,
  actor: 'pushdown-it',
});
/** A sql transform never reaches the sandbox: this runner fails the test if it is called. */
const noSandbox: TransformRunner = { run: () => Promise.reject(new Error('the sandbox was called for a sql transform')) };
const deps: LoadDeps = { secrets, runner: noSandbox, logger: silent, dbCaFile: join(STATE, 'certs', 'ca.crt') };
afterAll(() => secrets.close());

function task(query: string, table: string, opts: { timeoutMs?: number; mode?: 'append' | 'merge'; keys?: string[] } = {}): LoadTask['payload'] {
  return {
    taskId: randomUUID(),
    runId: randomUUID(),
    tenant: 'acme',
    source: { connection: source, table: 'crm.customers' },
    target: { connection: warehouse, table, mode: opts.mode ?? 'append', keys: opts.keys ?? [] },
    transform: { language: 'sql', code: query, sha256: sha256(query), allowedSchemas: ['crm', 'sales'] },
    limits: { timeoutMs: opts.timeoutMs ?? 60_000, memoryMb: 256, maxOutputBytes: 1 << 30 },
    chunk: { index: 0, count: 1 },
  };
}
const commit = (t: LoadTask['payload'], action: 'commit' | 'abort' = 'commit') =>
  commitRun({ taskId: randomUUID(), runId: t.runId, tenant: t.tenant, action, target: t.target, chunks: 1 }, deps);

/** count and an order-independent fingerprint of a result, as text. */
/** The error a `COPY … TO STDOUT` ends with, or null (its rows are discarded). */
const copyError = (client: pg.Client, sql: string) =>
  pipeline(client.query(copyTo(sql)), new Writable({ write: (_chunk, _enc, done) => done() })).then(() => null, (e: unknown) => e);
const fingerprint = (database: string, select: string) =>
  psqlAdmin(database, `SELECT count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '-') FROM (${select}) r`);
const ledgerRows = (runId: string) => psqlAdmin('warehouse', `SELECT count(*) FROM aoetl_staging.load_ledger WHERE run_id = '${runId}'`);
const stagingTables = (runId: string) =>
  psqlAdmin('warehouse', `SELECT count(*) FROM pg_tables WHERE schemaname = 'aoetl_staging' AND tablename LIKE 'r_${runId.replace(/-/g, '')}_%'`);

describe('a sql transform pushed down', () => {
  const table = warehouseTable('sql_pushdown', 'customer_id bigint PRIMARY KEY, email text, orders bigint NOT NULL, first_order timestamptz');
  afterAll(() => psqlAdmin('warehouse', `DROP TABLE IF EXISTS ${table}`));

  test('loads exactly the rows an independently written query computes, without the sandbox', async () => {
    // The transform: a join, a group and a window-free aggregate over two allowed schemas.
    const query = `SELECT c.customer_id, lower(btrim(c.email)) AS email, count(o.order_id) AS orders, min(o.ordered_at) AS first_order
      FROM crm.customers c LEFT JOIN sales.orders o ON o.customer_id = c.customer_id
      WHERE c.customer_id % 7 = 3 -- a slice of the customers
      GROUP BY c.customer_id, c.email;`;
    const t = task(query, table);
    const staged = await loadTaskChunk(t, deps);
    // The expectation, written differently (correlated subqueries, trim instead of btrim), as the superuser.
    const expected = fingerprint('source', `SELECT c.customer_id, lower(trim(c.email)) AS email,
        (SELECT count(*) FROM sales.orders o WHERE o.customer_id = c.customer_id) AS orders,
        (SELECT min(ordered_at) FROM sales.orders o WHERE o.customer_id = c.customer_id) AS first_order
      FROM crm.customers c WHERE mod(c.customer_id, 7) = 3`);
    expect(Number(expected.split(' ')[0])).toBeGreaterThan(10_000);
    expect(staged.rowsOut).toBe(Number(expected.split(' ')[0]));
    expect(fingerprint('warehouse', `SELECT * FROM ${table}`)).toBe('0 -'); // staged, not yet committed
    const committed = await commit(t);
    expect(committed.rowsOut).toBe(staged.rowsOut);
    expect(fingerprint('warehouse', `SELECT customer_id, email, orders, first_order FROM ${table}`)).toBe(expected);
    // A repeated chunk (a redelivered task) does nothing.
    const again = await loadSqlChunk(t, deps);
    expect(again.rowsOut).toBe(staged.rowsOut);
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${table}`)).toBe(expected.split(' ')[0]);
  });

  test('a statement timeout fails the chunk and leaves nothing visible in the target', async () => {
    psqlAdmin('warehouse', `TRUNCATE ${table}`);
    // 120k × 120k rows: streams into the staging table until the source cancels the statement.
    const query = `SELECT a.customer_id * 1000000 + b.customer_id AS customer_id, a.email, 0::bigint AS orders
      FROM crm.customers a CROSS JOIN crm.customers b`;
    const t = task(query, table, { timeoutMs: 1_500 });
    const err = await loadSqlChunk(t, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadFailure);
    expect((err as LoadFailure).reason).toMatchObject({ code: 'load', message: expect.stringMatching(/statement timeout \(1500 ms\)/) });
    expect(ledgerRows(t.runId)).toBe('0');
    expect(stagingTables(t.runId)).toBe('0');
    await commit(t, 'abort');
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${table}`)).toBe('0');
  });

  test('the agent checks the query again: a refused query stages nothing', async () => {
    for (const [query, rule] of [
      ['SELECT customer_id, email, 0::bigint AS orders FROM crm.customers WHERE pg_sleep(5) IS NOT NULL', 'function_denied'],
      ['SELECT oid::bigint AS customer_id, rolname AS email, 0::bigint AS orders FROM pg_catalog.pg_authid', 'reserved_schema'],
    ] as const) {
      const t = task(query, table);
      const err = await loadSqlChunk(t, deps).catch((e: unknown) => e);
      expect((err as LoadFailure).reason).toMatchObject({ code: 'input', message: expect.stringContaining(`${rule} at position`) });
      expect(ledgerRows(t.runId)).toBe('0');
    }
  });

  test('a query whose columns are not the target\'s fails with their names', async () => {
    const t = task('SELECT customer_id, email AS mail, 0::bigint AS orders FROM crm.customers', table);
    const err = await loadSqlChunk(t, deps).catch((e: unknown) => e);
    expect((err as LoadFailure).reason).toMatchObject({ code: 'input', message: expect.stringContaining('not: mail') });
  });
});

describe('behind the guard, each layer refuses writes on its own (the guard bypassed)', () => {
  const WRITES = (table: string) => [
    `WITH d AS (DELETE FROM ${table} RETURNING *) SELECT * FROM d`,
    `WITH u AS (UPDATE ${table} SET email = 'x' RETURNING *) SELECT * FROM u`,
  ];

  test('the read-only transaction, for a role that may write the table', async () => {
    const table = warehouseTable('sql_layer', 'customer_id bigint PRIMARY KEY, email text');
    psqlAdmin('warehouse', `INSERT INTO ${table} VALUES (1, 'a@example.com')`);
    const ctx = { runId: randomUUID() };
    const cred = await secrets.databaseCredential(warehouse.vaultRole, ctx);
    const client = await connectAs(cred, 'warehouse');
    try {
      // The role can write it (the table's owner), outside a read-only transaction:
      await client.query('BEGIN');
      expect((await client.query(`DELETE FROM ${table}`)).rowCount).toBe(1);
      await client.query('ROLLBACK');
      for (const write of WRITES(table)) {
        await beginPushdown(client, 10_000);
        const err = await copyError(client, copyOutOf(write));
        expect(err).toMatchObject({ code: '25006', message: expect.stringMatching(/read-only transaction/) });
        await client.query('ROLLBACK');
      }
      // Switching the transaction to read-write after the first query is refused too.
      await beginPushdown(client, 10_000);
      await expect(client.query('SET TRANSACTION READ WRITE')).rejects.toMatchObject({ code: '25001' });
      await client.query('ROLLBACK');
      expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${table}`)).toBe('1');
    } finally {
      await client.end();
      await secrets.revoke(cred.leaseId, ctx);
      psqlAdmin('warehouse', `DROP TABLE ${table}`);
    }
  });

  test('the SELECT-only role, in a transaction that may write', async () => {
    const before = psqlAdmin('source', 'SELECT count(*) FROM crm.customers');
    const ctx = { runId: randomUUID() };
    const cred = await secrets.databaseCredential(source.vaultRole, ctx);
    const client = await connectAs(cred, 'source');
    try {
      for (const write of WRITES('crm.customers')) {
        await client.query('BEGIN READ WRITE');
        const err = await copyError(client, copyOutOf(write));
        expect(err).toMatchObject({ code: '42501', message: expect.stringMatching(/permission denied/) });
        await client.query('ROLLBACK');
      }
      // What a stacked statement would try after breaking out of the COPY: refused to the role as well.
      for (const write of ['CREATE TABLE crm.intruder (x int)', "INSERT INTO crm.customers (customer_id) VALUES (-1)", 'TRUNCATE crm.customers']) {
        await client.query('BEGIN READ WRITE');
        await expect(client.query(write)).rejects.toMatchObject({ code: '42501' });
        await client.query('ROLLBACK');
      }
    } finally {
      await client.end();
      await secrets.revoke(cred.leaseId, ctx);
    }
    expect(psqlAdmin('source', 'SELECT count(*) FROM crm.customers')).toBe(before);
    expect(psqlAdmin('source', "SELECT to_regclass('crm.intruder') IS NULL")).toBe('t');
  });
});
