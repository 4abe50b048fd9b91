/**
 * Tenant scope in Vault itself (issue 13, finding 3), against the real OpenBao of the local stack and the policies
 * deploy/local/openbao.sh writes: the etl-agent's AppRole names no database role; it mints, per tenant, a child
 * token through the token role `aoetl-tenant` that carries only `aoetl-tenant-<tenant>`, and OpenBao refuses any
 * other tenant's role to that token — whatever the static tenant-scope check said (it is not involved here).
 */
import { randomUUID } from 'node:crypto';
import { connectAs } from '@aoetl/testing';
import { InputError } from '@aoetl/contracts';
import { VaultPermissionError } from '../../dist/index.js';
import { VAULT, newStore, root, stackEnvOf } from './support';

jest.setTimeout(60_000);

const agent = stackEnvOf('etl-agent');
const agentAuth = { method: 'approle' as const, roleId: agent.AOETL_VAULT_ROLE_ID!, secretId: agent.AOETL_VAULT_SECRET_ID! };
const scoped = () => newStore(agentAuth, { tenantTokenRole: 'aoetl-tenant' });

describe("a tenant's own Vault scope", () => {
  test("tenant acme gets a working credential from acme's role", async () => {
    const t = scoped();
    const runId = randomUUID();
    const acme = t.store.forTenant('acme');
    const cred = await acme.databaseCredential('database/creds/acme-source-reader', { runId });
    const client = await connectAs(cred);
    try {
      expect(Number((await client.query('SELECT count(*) AS n FROM crm.customers')).rows[0].n)).toBeGreaterThan(0);
    } finally {
      await client.end();
      await acme.revoke(cred.leaseId, { runId });
      t.store.close();
    }
    expect(t.audits.find((a) => a.event === 'credential.issued')).toMatchObject({ path: 'database/creds/acme-source-reader', tenant: 'acme', runId, outcome: 'ok' });
    expect(t.audits.filter((a) => a.event === 'vault.tenant_token')).toEqual([expect.objectContaining({ tenant: 'acme', outcome: 'ok' })]);
  });

  test.each([
    ["another tenant's reader role", 'database/creds/globex-source-reader'],
    ["another tenant's writer role", 'database/creds/globex-warehouse-writer'],
    ['the shared reader role', 'database/creds/source-reader'],
  ])("OpenBao refuses tenant acme %s (no static check involved)", async (_what, path) => {
    const t = scoped();
    const runId = randomUUID();
    try {
      const err = await t.store.forTenant('acme').databaseCredential(path, { runId }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VaultPermissionError);
      expect((err as Error).message).toContain('tenant acme');
      expect(t.audits.filter((a) => a.event === 'credential.issued')).toEqual([
        expect.objectContaining({ path, tenant: 'acme', runId, outcome: 'error', error: 'not_allowed' }),
      ]);
      // The same store still serves acme's own role: the refusal was Vault's policy, not a broken token.
      const ok = await t.store.forTenant('acme').databaseCredential('database/creds/acme-warehouse-writer', { runId });
      await t.store.revoke(ok.leaseId, { runId });
    } finally {
      t.store.close();
    }
  });

  test("tenant globex's token cannot read acme's role either (each tenant its own token)", async () => {
    const t = scoped();
    try {
      await t.store.forTenant('acme').databaseCredential('database/creds/acme-source-reader', { runId: randomUUID() }).then((c) => t.store.revoke(c.leaseId, { runId: 'x' }));
      await expect(t.store.forTenant('globex').databaseCredential('database/creds/acme-source-reader', { runId: randomUUID() })).rejects.toBeInstanceOf(VaultPermissionError);
      expect(t.audits.filter((a) => a.event === 'vault.tenant_token').map((a) => a.tenant).sort()).toEqual(['acme', 'globex']);
    } finally {
      t.store.close();
    }
  });

  test("the agent's own token names no tenant's database role", async () => {
    const t = newStore(agentAuth); // no tenant token role: the agent's AppRole token itself
    try {
      await expect(t.store.databaseCredential('database/creds/acme-source-reader', { runId: randomUUID() })).rejects.toBeInstanceOf(VaultPermissionError);
      await expect(t.store.databaseCredential('database/creds/globex-warehouse-writer', { runId: randomUUID() })).rejects.toBeInstanceOf(VaultPermissionError);
    } finally {
      t.store.close();
    }
  });

  test('the token role mints only aoetl-tenant-* policies, as children of the caller', async () => {
    const login = await fetch(`${VAULT}/v1/auth/approle/login`, {
      method: 'POST',
      body: JSON.stringify({ role_id: agentAuth.roleId, secret_id: agentAuth.secretId }),
    });
    expect(login.status).toBe(200);
    const agentToken = ((await login.json()) as { auth: { client_token: string } }).auth.client_token;
    try {
      for (const policies of [['etl-agent'], ['root'], ['aoetl-transit'], ['aoetl-tenant-acme', 'agent-gateway']]) {
        await expect(root('POST', 'auth/token/create/aoetl-tenant', { policies, ttl: '1m' }, agentToken)).rejects.toThrow(/: (400|403) /);
      }
      const child = await root('POST', 'auth/token/create/aoetl-tenant', { policies: ['aoetl-tenant-globex'], ttl: '1m' }, agentToken);
      expect(child.auth.policies).toEqual(['aoetl-tenant-globex', 'default']);
      // Revoking the agent's token (quarantine) revokes its tenant tokens with it.
      await root('POST', 'auth/token/revoke', { token: agentToken });
      await expect(root('GET', 'auth/token/lookup-self', undefined, child.auth.client_token as string)).rejects.toThrow(/: 403 /);
    } finally {
      await root('POST', 'auth/token/revoke', { token: agentToken }).catch(() => undefined);
    }
  });

  test('a tenant name that cannot be a policy name is refused before Vault is asked', () => {
    const t = scoped();
    expect(() => t.store.forTenant('acme/../root')).toThrow(InputError);
    expect(() => t.store.forTenant('')).toThrow(InputError);
    t.store.close();
  });
});
