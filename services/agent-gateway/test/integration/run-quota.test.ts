/**
 * Per-tenant run quota at submit (issue 13, finding 5), over the real control database: a tenant with as many
 * queued runs as its quota gets 429 + Retry-After naming the limit, nothing is created, and other tenants and the
 * tenant's own submits after a run leaves the queue are unaffected. A fresh tenant (tokens from a test issuer) makes
 * the counts exact whatever else runs on the database.
 */
import { randomUUID } from 'node:crypto';
import { LocalIssuer, bearer, connectionBody, makeKey, makeTestCa, pipelineBody, psqlAdmin, signJwt, unique } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(60_000);

const tls = makeTestCa();
const key = makeKey('RS256');
const issuer = new LocalIssuer(tls, [key]);
let gw: TestGateway;

const now = () => Math.floor(Date.now() / 1000);
const tokenOf = (tenant: string) =>
  bearer(
    signJwt(
      { alg: key.alg, kid: key.kid, typ: 'at+jwt' },
      { iss: issuer.issuer, sub: 'quota-user', aud: 'aoetl-api', iat: now(), exp: now() + 600, tenant, roles: ['admin'], scope: 'aoetl:admin' },
      key.privateKey,
    ),
  );

beforeAll(async () => {
  await issuer.start();
  gw = await buildTestGateway({ issuers: [issuer.issuer], ca: tls.caPem }, { runQuota: { maxQueued: 2, maxInFlight: 1 } });
});
const tenants: string[] = [];
const newTenant = () => {
  const t = `quota-${randomUUID()}`;
  tenants.push(t);
  return t;
};
afterAll(async () => {
  // The runs put in flight by hand never reach an agent: leave nothing for the orchestrator's sweeps.
  if (tenants.length > 0) {
    psqlAdmin('aoetl', `UPDATE runs SET status = 'cancelled' WHERE tenant IN (${tenants.map((t) => `'${t}'`).join(', ')})`);
  }
  await gw?.close();
  await issuer.stop();
});

async function pipelineOf(tenant: string): Promise<string> {
  for (const name of ['crm-source', 'warehouse']) {
    const conn = await gw.call('PUT', `/v1/connections/${name}`, { authorization: tokenOf(tenant), body: connectionBody() });
    expect(conn.status).toBe(201);
  }
  const res = await gw.call('POST', '/v1/pipelines', { authorization: tokenOf(tenant), body: pipelineBody(unique('quota')) });
  expect(res.status).toBe(201);
  return res.json().id;
}
const submit = (tenant: string, pipelineId: string) => gw.call('POST', `/v1/pipelines/${pipelineId}/runs`, { authorization: tokenOf(tenant) });
/** The test's pipelines need an approval, so no run reaches an agent; a run is put in the status a test needs. */
const setStatus = (runId: string, status: string) => psqlAdmin('aoetl', `UPDATE runs SET status = '${status}' WHERE id = '${runId}'`);
const runsOf = (tenant: string) => Number(psqlAdmin('aoetl', `SELECT count(*) FROM runs WHERE tenant = '${tenant}'`));

describe('per-tenant run quota', () => {
  it('refuses a submit beyond the queued-runs limit with 429 + Retry-After naming it, creating nothing', async () => {
    const tenant = newTenant();
    const pipelineId = await pipelineOf(tenant);
    const first = await submit(tenant, pipelineId);
    expect(first.status).toBe(202);
    setStatus(first.json().runId, 'queued');
    const second = await submit(tenant, pipelineId);
    expect(second.status).toBe(202);
    setStatus(second.json().runId, 'queued');

    const refused = await submit(tenant, pipelineId);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json().detail).toMatch(/at most 2 runs queued/);
    expect(runsOf(tenant)).toBe(2);

    // Another tenant has its own quota.
    const other = newTenant();
    expect((await submit(other, await pipelineOf(other))).status).toBe(202);

    // One run leaves the queue (cancelled): the tenant may submit again; runs awaiting an approval are not counted.
    expect((await gw.call('POST', `/v1/runs/${second.json().runId}/cancel`, { authorization: tokenOf(tenant) })).status).toBe(200);
    expect((await submit(tenant, pipelineId)).status).toBe(202);
    expect((await submit(tenant, pipelineId)).status).toBe(202);
    expect(runsOf(tenant)).toBe(4);
  });

  it('refuses a submit while the tenant has its limit of runs in flight', async () => {
    const tenant = newTenant();
    const pipelineId = await pipelineOf(tenant);
    const first = await submit(tenant, pipelineId);
    expect(first.status).toBe(202);
    setStatus(first.json().runId, 'running');
    const refused = await submit(tenant, pipelineId);
    expect(refused.status).toBe(429);
    expect(refused.json().detail).toMatch(/at most 1 runs in flight/);
    expect(runsOf(tenant)).toBe(1);
  });
});
