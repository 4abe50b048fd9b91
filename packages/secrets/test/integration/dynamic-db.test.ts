/**
 * The database secrets engine against the real OpenBao and PostgreSQL of the local stack: a per-run credential
 * that can only SELECT, revoked at the end of the run; and the etl LeaseKeeper keeping a short-lived credential
 * alive past its first TTL while the run lasts.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { LeaseKeeper } from '../../../etl/src/leases';
import type { DatabaseCredential } from '../../dist/index.js';
import { env, memoryLogger, newStore, rand, root, stackEnvOf } from './support';
import { psqlAdmin } from '../../../../test/support/stack';

jest.setTimeout(60_000);

const agent = stackEnvOf('etl-agent');
const agentAuth = { method: 'approle' as const, roleId: agent.AOETL_VAULT_ROLE_ID!, secretId: agent.AOETL_VAULT_SECRET_ID! };
const ca = readFileSync(env.AOETL_DB_CA_FILE!);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connect(cred: DatabaseCredential, database = 'source'): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1', port: Number(env.AOETL_PG_PORT ?? 5433), database, user: cred.username, password: cred.password,
    ssl: { ca }, connectionTimeoutMillis: 5_000,
  });
  await client.connect();
  return client;
}

/** The SQLSTATE of a statement's failure, or 'ok'. */
async function outcome(client: pg.Client, sql: string): Promise<string> {
  try {
    await client.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  }
}

/** Whether a fresh login with the credential works. */
async function canLogIn(cred: DatabaseCredential): Promise<boolean> {
  try {
    const c = await connect(cred);
    await c.end();
    return true;
  } catch {
    return false;
  }
}

const roleExists = (name: string) => psqlAdmin('source', `SELECT count(*) FROM pg_roles WHERE rolname = '${name.replace(/'/g, "''")}'`) === '1';

describe('per-run dynamic database credentials', () => {
  test('the source credential can SELECT and cannot INSERT, UPDATE, DELETE or run DDL', async () => {
    const t = newStore(agentAuth);
    const runId = randomUUID();
    const cred = await t.store.databaseCredential('database/creds/source-reader', { runId, taskId: 'chunk-0' });
    const client = await connect(cred);
    try {
      expect(Number((await client.query('SELECT count(*) AS n FROM crm.customers')).rows[0].n)).toBeGreaterThan(0);
      expect(await outcome(client, 'SELECT count(*) FROM sales.orders')).toBe('ok');
      const refused = {
        insert: await outcome(client, 'INSERT INTO crm.customers DEFAULT VALUES'),
        update: await outcome(client, 'UPDATE crm.customers SET first_name = first_name'),
        delete: await outcome(client, 'DELETE FROM crm.customers WHERE false'),
        truncate: await outcome(client, 'TRUNCATE crm.customers'),
        createInSchema: await outcome(client, 'CREATE TABLE crm.aoetl_intruder (id int)'),
        createInPublic: await outcome(client, 'CREATE TABLE public.aoetl_intruder (id int)'),
        createSchema: await outcome(client, 'CREATE SCHEMA aoetl_intruder'),
        alter: await outcome(client, 'ALTER TABLE crm.customers ADD COLUMN intruder int'),
        drop: await outcome(client, 'DROP TABLE crm.customers'),
        index: await outcome(client, 'CREATE INDEX aoetl_intruder ON crm.customers (email)'),
      };
      // 42501 insufficient_privilege; 42501 also for "must be owner of table" (DROP, ALTER).
      expect(refused).toEqual(Object.fromEntries(Object.keys(refused).map((k) => [k, '42501'])));
    } finally {
      await client.end();
      await t.store.revoke(cred.leaseId, { runId });
      t.store.close();
    }
  });

  test('after the run ends the lease is revoked and the generated role can no longer log in', async () => {
    const t = newStore(agentAuth);
    const runId = randomUUID();
    const cred = await t.store.databaseCredential('database/creds/source-reader', { runId });
    expect(cred.username).toMatch(/^v-/);
    expect(roleExists(cred.username)).toBe(true);
    expect(await canLogIn(cred)).toBe(true);

    await t.store.revoke(cred.leaseId, { runId });
    expect(roleExists(cred.username)).toBe(false);
    expect(await canLogIn(cred)).toBe(false);
    await expect(t.store.lookupLease(cred.leaseId)).rejects.toMatchObject({ name: 'LeaseNotFoundError' });

    const trail = t.audits.filter((a) => a.event.startsWith('credential.'));
    expect(trail).toEqual([
      expect.objectContaining({ event: 'credential.issued', path: 'database/creds/source-reader', runId, leaseId: cred.leaseId, username: cred.username, actor: 'secrets-it' }),
      expect.objectContaining({ event: 'credential.revoked', runId, leaseId: cred.leaseId }),
    ]);
    expect(trail.every((a) => typeof a.at === 'string' && a.identity === 'approle:etl-agent')).toBe(true);
    expect(JSON.stringify(t.audits)).not.toContain(cred.password);
    expect(t.logText()).not.toContain(cred.password);
    t.store.close();
  });
});

describe('lease renewal while the run lasts (LeaseKeeper)', () => {
  const role = `aoetl-test-short-${rand()}`;
  const root_ = newStore({ method: 'token', token: env.AOETL_VAULT_TOKEN! });

  beforeAll(() =>
    // A test-only role on the source connection (openbao.sh allows aoetl-test-*): 3 s TTL.
    root('POST', `database/roles/${role}`, {
      db_name: 'source',
      creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE source_read;`],
      renew_statements: [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`],
      revocation_statements: ['DROP ROLE IF EXISTS "{{name}}";'],
      default_ttl: '3s',
      max_ttl: '60s',
    }),
  );
  afterAll(async () => {
    root_.store.close();
    await root('DELETE', `database/roles/${role}`);
  });

  test('renewal keeps a run alive past the first TTL; without it the credential dies at its TTL', async () => {
    const runId = randomUUID();
    const kept = await root_.store.databaseCredential(`database/creds/${role}`, { runId });
    const unkept = await root_.store.databaseCredential(`database/creds/${role}`, { runId });
    expect(kept.leaseDurationSec).toBe(3);
    const { logger } = memoryLogger();
    const lost: string[] = [];
    const keeper = new LeaseKeeper(root_.store, logger, (reason) => lost.push(reason), { checkEveryMs: 1_000 });
    keeper.keep(kept, 'crm-source', { runId });
    const session = await connect(kept);
    try {
      // The "run": 8 s of work on the session, well past the 3 s TTL.
      for (let i = 0; i < 8; i++) {
        await sleep(1_000);
        expect(Number((await session.query('SELECT count(*) AS n FROM crm.customers')).rows[0].n)).toBeGreaterThan(0);
      }
      expect(await canLogIn(kept)).toBe(true); // the lease and the role's VALID UNTIL were extended
      expect(roleExists(kept.username)).toBe(true);
      expect(await canLogIn(unkept)).toBe(false); // Vault revoked the credential nobody renewed
      expect(roleExists(unkept.username)).toBe(false);
      expect(lost).toEqual([]);
      expect(root_.audits.filter((a) => a.event === 'credential.renewed' && a.leaseId === kept.leaseId).length).toBeGreaterThanOrEqual(3);
    } finally {
      expect(keeper.stop()).toBeNull();
      await session.end();
      await root_.store.revoke(kept.leaseId, { runId });
    }
    expect(await canLogIn(kept)).toBe(false);
  });

  test('a lease revoked behind the run\'s back is reported lost, with a reason naming the connection', async () => {
    const runId = randomUUID();
    const cred = await root_.store.databaseCredential(`database/creds/${role}`, { runId });
    const { logger } = memoryLogger();
    const lost: string[] = [];
    const keeper = new LeaseKeeper(root_.store, logger, (reason) => lost.push(reason), { checkEveryMs: 300 });
    keeper.keep(cred, 'crm-source', { runId });
    await root('POST', 'sys/leases/revoke', { lease_id: cred.leaseId });
    for (let i = 0; i < 20 && lost.length === 0; i++) await sleep(100);
    expect(lost).toEqual(['the crm-source credential was revoked or lost by Vault']);
    expect(keeper.stop()).toBe(lost[0]);
  });
});
