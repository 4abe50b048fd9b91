/**
 * The dashboard's read model on the real control database through the monitor's own role, aoetl_monitor:
 * read-only (no write of any kind, nothing beyond what the dashboard shows), tenant-scoped queries, and the same
 * answers as the database itself.
 */
import pg from 'pg';
import { devCa, psqlAdmin, stackEnv } from '@aoetl/testing';
import { DashboardReads } from '../../src/dashboard/read-model';

jest.setTimeout(60_000);

const env = stackEnv('test');
let pool: pg.Pool;
let reads: DashboardReads;

beforeAll(() => {
  const password = env.AOETL_PG_MONITOR_PASSWORD;
  if (!password) throw new Error('AOETL_PG_MONITOR_PASSWORD missing from test.env (deploy/local/postgres.sh writes it)');
  pool = new pg.Pool({ host: '127.0.0.1', port: Number(env.AOETL_PG_PORT ?? 5433), database: 'aoetl', user: 'aoetl_monitor', password, ssl: { ca: devCa() }, max: 2 });
  reads = new DashboardReads(pool);
});
afterAll(async () => pool.end());

/** The SQLSTATE a statement fails with ('ok' when it does not), on a connection of its own that is then closed. */
async function code(sql: string): Promise<string | undefined> {
  const client = await pool.connect();
  try {
    return await client.query(sql).then(() => 'ok', (e: { code?: string }) => e.code);
  } finally {
    client.release(true);
  }
}

test('the monitor role cannot write anything, nor read what the dashboard does not show', async () => {
  expect(await code(`UPDATE runs SET status = status WHERE false`)).toBe('25006'); // read-only transaction
  // Asking for a read-write transaction does not help: the role has no write privilege at all.
  expect(await code(`BEGIN READ WRITE; UPDATE runs SET status = status WHERE false`)).toBe('42501');
  expect(await code(`BEGIN READ WRITE; INSERT INTO run_steps (run_id, status) SELECT id, 'x' FROM runs WHERE false`)).toBe('42501');
  for (const table of ['outbox', 'connections', 'approvals', 'audit_ledger', 'pipeline_versions']) {
    expect([table, await code(`SELECT 1 FROM ${table} LIMIT 1`)]).toEqual([table, '42501']);
  }
  expect(await code('CREATE TEMP TABLE x (a int)')).not.toBe('ok');
});

test('counts and runs agree with the database; a tenant scope never returns another tenant', async () => {
  const byStatus = Object.fromEntries(
    psqlAdmin('aoetl', "SELECT status || '=' || count(*) FROM runs GROUP BY status")
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split('=')[0]!, Number(l.split('=')[1])]),
  );
  const all = await reads.overview(null);
  expect(all.totals).toEqual(byStatus);
  expect(all.series.length).toBeGreaterThanOrEqual(60);

  const tenants = psqlAdmin('aoetl', 'SELECT DISTINCT tenant FROM runs ORDER BY 1').split('\n').filter(Boolean);
  expect(tenants.length).toBeGreaterThan(0);
  for (const tenant of tenants) {
    const runs = await reads.runs(tenant, { limit: 200 });
    expect(runs.every((r) => r.tenant === tenant)).toBe(true);
    const newest = psqlAdmin('aoetl', `SELECT id FROM runs WHERE tenant = '${tenant}' ORDER BY created_at DESC, id DESC LIMIT 1`);
    expect(runs[0]?.id).toBe(newest);
    const other = tenants.find((t) => t !== tenant);
    if (other) {
      const foreign = psqlAdmin('aoetl', `SELECT id FROM runs WHERE tenant = '${other}' LIMIT 1`);
      expect(await reads.run(tenant, foreign)).toBeNull();
      expect((await reads.run(null, foreign))?.tenant).toBe(other);
    }
  }
  const failed = psqlAdmin('aoetl', "SELECT id FROM runs WHERE error IS NOT NULL ORDER BY updated_at DESC LIMIT 1");
  if (failed) {
    const run = await reads.run(null, failed);
    expect(run?.error?.code).toBeTruthy();
    expect(run?.error).not.toHaveProperty('traceback');
  }
});
