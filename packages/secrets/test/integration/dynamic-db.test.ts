/**
 * The database secrets engine against the real OpenBao and PostgreSQL of the local stack: a per-run credential
 * that can only SELECT, revoked at the end of the run. (The etl LeaseKeeper renewing such credentials is tested
 * in packages/etl/test/integration/lease-keeper.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { canLogIn, connectAs as connect, roleExists } from '@aoetl/testing';
import type pg from 'pg';
import { newStore, stackEnvOf } from './support';

jest.setTimeout(60_000);

const agent = stackEnvOf('etl-agent');
const agentAuth = { method: 'approle' as const, roleId: agent.AOETL_VAULT_ROLE_ID!, secretId: agent.AOETL_VAULT_SECRET_ID! };
// The agent reads credentials only in a tenant's scope (tenant-scope.test.ts): here tenant acme's reader role.
const TENANT = { tenantTokenRole: 'aoetl-tenant' };

/** The SQLSTATE of a statement's failure, or 'ok'. */
async function outcome(client: pg.Client, sql: string): Promise<string> {
  try {
    await client.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  }
}

describe('per-run dynamic database credentials', () => {
  test('the source credential can SELECT and cannot INSERT, UPDATE, DELETE or run DDL', async () => {
    const t = newStore(agentAuth, TENANT);
    const runId = randomUUID();
    const cred = await t.store.forTenant('acme').databaseCredential('database/creds/acme-source-reader', { runId, taskId: 'chunk-0' });
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
    const t = newStore(agentAuth, TENANT);
    const runId = randomUUID();
    const cred = await t.store.forTenant('acme').databaseCredential('database/creds/acme-source-reader', { runId });
    expect(cred.username).toMatch(/^v-/);
    expect(roleExists(cred.username)).toBe(true);
    expect(await canLogIn(cred)).toBe(true);

    await t.store.revoke(cred.leaseId, { runId });
    expect(roleExists(cred.username)).toBe(false);
    expect(await canLogIn(cred)).toBe(false);
    await expect(t.store.lookupLease(cred.leaseId)).rejects.toMatchObject({ name: 'LeaseNotFoundError' });

    const trail = t.audits.filter((a) => a.event.startsWith('credential.'));
    expect(trail).toEqual([
      expect.objectContaining({ event: 'credential.issued', path: 'database/creds/acme-source-reader', tenant: 'acme', runId, leaseId: cred.leaseId, username: cred.username, actor: 'secrets-it' }),
      expect.objectContaining({ event: 'credential.revoked', runId, leaseId: cred.leaseId }),
    ]);
    expect(trail.every((a) => typeof a.at === 'string' && a.identity === 'approle:etl-agent')).toBe(true);
    expect(JSON.stringify(t.audits)).not.toContain(cred.password);
    expect(t.logText()).not.toContain(cred.password);
    t.store.close();
  });
});
