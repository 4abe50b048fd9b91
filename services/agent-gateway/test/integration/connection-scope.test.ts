/**
 * Connections reach across tenants (issue 13, finding 3), over the real control database and real tokens: with a
 * tenant scope configured, a tenant admin may register only Vault roles under the tenant's own prefix and hosts on
 * the tenant's allow-list; anything else is a 400 naming the field and the rule, and nothing is stored.
 */
import { parseTenantScope } from '@aoetl/secrets';
import { bearer, token as realToken, unique } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(60_000);

let gw: TestGateway;
let admin: { authorization: string }; // tenant acme
const body = (vaultRole: string, host = '127.0.0.1', port = 5433) => ({ kind: 'postgres', host, port, database: 'source', vaultRole });

beforeAll(async () => {
  admin = { authorization: bearer(realToken('admin')) };
  gw = await buildTestGateway({}, { tenantScope: parseTenantScope('database/creds/{tenant}-*', 'acme=127.0.0.1:5433;globex=10.9.9.9') });
});
afterAll(async () => gw?.close());

describe('connection registration under a tenant scope', () => {
  it.each([
    ['another tenant\'s Vault role', body('database/creds/globex-source-reader'), 'vaultRole'],
    ['the shared Vault role', body('database/creds/source-reader'), 'vaultRole'],
    ['another tenant\'s host', body('database/creds/acme-source-reader', '10.9.9.9', 5433), 'host'],
    ['an allowed host on another port', body('database/creds/acme-source-reader', '127.0.0.1', 5432), 'host'],
  ])('refuses %s with a 400 naming the field, storing nothing', async (_case, conn, field) => {
    const name = unique('scope');
    const res = await gw.call('PUT', `/v1/connections/${name}`, { ...admin, body: conn });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().errors).toEqual([expect.objectContaining({ field })]);
    expect(res.json().detail).toMatch(/tenant 'acme'/);
    expect((await gw.call('GET', `/v1/connections/${name}`, admin)).status).toBe(404);
  });

  it('accepts a role under the tenant\'s prefix on an allowed host', async () => {
    const name = unique('scope');
    const res = await gw.call('PUT', `/v1/connections/${name}`, { ...admin, body: body('database/creds/acme-source-reader') });
    expect(res.status).toBe(201);
    expect(res.json().vaultRole).toBe('database/creds/acme-source-reader');
    expect((await gw.call('DELETE', `/v1/connections/${name}`, admin)).status).toBe(204);
  });
});
