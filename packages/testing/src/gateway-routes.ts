/**
 * Every route of the v1 API with the permission it needs and what an allowed caller gets, plus the fixtures the
 * route catalog runs against. Shared by the in-process integration tests (inject) and the e2e tests (the running
 * gateway): each supplies a `Client`.
 */
import { randomBytes } from 'node:crypto';

export type Permission = 'read' | 'submit' | 'approve' | 'admin';

export interface Response {
  status: number;
  headers: Record<string, string>;
  text: string;
  json: () => any;
}

export type Client = (
  method: string,
  url: string,
  opts?: { authorization?: string; body?: unknown; headers?: Record<string, string> },
) => Promise<Response>;

export const bearer = (token: string) => `Bearer ${token}`;

/** The request headers a `Client` sends for `opts`: authorization, a JSON content type when there is a body, extras. */
export function clientHeaders(opts: Parameters<Client>[2] = {}): Record<string, string> {
  return {
    ...(opts.authorization === undefined ? {} : { authorization: opts.authorization }),
    ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
    ...opts.headers,
  };
}

/** What routes need to exist in the tenant under test (acme). */
export interface Fixture {
  pipelineId: string;
  /** A run of `pipelineId` awaiting approval, submitted by `submitter`. */
  runId: string;
  /** A connection only this tenant has. */
  connection: string;
}

export interface RouteCase {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** OpenAPI path, for naming and for checking the catalog covers the spec. */
  path: string;
  permission: Permission;
  /** Status an allowed caller of the fixture's tenant gets. */
  ok: number;
  url: (f: Fixture) => string;
  body?: (f: Fixture) => unknown;
  headers?: Record<string, string>;
  /** The call changes or consumes the fixture: give it a fresh one. */
  consumes?: boolean;
}

export const unique = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;

export const TRIVIAL_CODE = 'def transform(rows):\n    return rows\n';

/**
 * A pipeline body whose runs wait for an approval, so creating runs starts no ETL work; and should one ever run,
 * its source and target tables do not exist, so it fails at once and writes nothing.
 */
export function pipelineBody(name = unique('gw'), overrides: Record<string, unknown> = {}) {
  return {
    name,
    description: 'gateway test pipeline',
    source: { connection: 'crm-source', table: 'crm.gw_absent' },
    target: { connection: 'warehouse', table: 'silver.gw_absent', mode: 'merge', keys: ['email'] },
    transform: { kind: 'python', code: TRIVIAL_CODE },
    approval: { required: true },
    ...overrides,
  };
}

/**
 * A connection registration the tenant may make where the tenant scope is on (the local stack: its own role, its
 * host); its schema reach covers the example source's and warehouse's schemas.
 */
export const connectionBody = (allowedSchemas: string[] = ['crm', 'sales', 'bronze', 'silver', 'gold'], tenant = 'acme') => ({
  kind: 'postgres',
  host: '127.0.0.1',
  port: 5433,
  database: 'source',
  vaultRole: `database/creds/${tenant}-source-reader`,
  allowedSchemas,
});

export const ROUTES: RouteCase[] = [
  // an instruction the planner refuses: answered before any sandbox is asked, so the matrix needs no etl-agent
  {
    method: 'POST',
    path: '/v1/transforms/preview',
    permission: 'read',
    ok: 422,
    url: () => '/v1/transforms/preview',
    body: () => ({ instruction: 'Translate the name into French', sample: { rows: [{ name: 'x' }] } }),
  },
  { method: 'POST', path: '/v1/pipelines', permission: 'submit', ok: 201, url: () => '/v1/pipelines', body: () => pipelineBody() },
  { method: 'GET', path: '/v1/pipelines', permission: 'read', ok: 200, url: () => '/v1/pipelines?limit=5' },
  { method: 'GET', path: '/v1/pipelines/{id}', permission: 'read', ok: 200, url: (f) => `/v1/pipelines/${f.pipelineId}` },
  {
    method: 'PUT',
    path: '/v1/pipelines/{id}',
    permission: 'submit',
    ok: 200,
    url: (f) => `/v1/pipelines/${f.pipelineId}`,
    body: () => pipelineBody(unique('gw-renamed')),
    consumes: true,
  },
  { method: 'DELETE', path: '/v1/pipelines/{id}', permission: 'submit', ok: 204, url: (f) => `/v1/pipelines/${f.pipelineId}`, consumes: true },
  {
    method: 'POST',
    path: '/v1/pipelines/{id}/runs',
    permission: 'submit',
    ok: 202,
    url: (f) => `/v1/pipelines/${f.pipelineId}/runs`,
    headers: { 'idempotency-key': 'matrix' },
  },
  { method: 'GET', path: '/v1/runs', permission: 'read', ok: 200, url: (f) => `/v1/runs?pipelineId=${f.pipelineId}` },
  { method: 'GET', path: '/v1/runs/{id}', permission: 'read', ok: 200, url: (f) => `/v1/runs/${f.runId}` },
  { method: 'POST', path: '/v1/runs/{id}/cancel', permission: 'submit', ok: 200, url: (f) => `/v1/runs/${f.runId}/cancel`, consumes: true },
  { method: 'GET', path: '/v1/runs/{id}/events', permission: 'read', ok: 200, url: (f) => `/v1/runs/${f.runId}/events?timeoutSeconds=0` },
  { method: 'GET', path: '/v1/approvals', permission: 'read', ok: 200, url: () => '/v1/approvals?state=pending' },
  { method: 'GET', path: '/v1/runs/{id}/approval', permission: 'read', ok: 200, url: (f) => `/v1/runs/${f.runId}/approval` },
  {
    method: 'POST',
    path: '/v1/runs/{id}/approval',
    permission: 'approve',
    ok: 200,
    url: (f) => `/v1/runs/${f.runId}/approval`,
    body: () => ({ decision: 'reject', comment: 'matrix' }),
    consumes: true,
  },
  { method: 'GET', path: '/v1/connections', permission: 'read', ok: 200, url: () => '/v1/connections' },
  { method: 'GET', path: '/v1/connections/{name}', permission: 'read', ok: 200, url: (f) => `/v1/connections/${f.connection}` },
  {
    method: 'PUT',
    path: '/v1/connections/{name}',
    permission: 'admin',
    ok: 200,
    url: (f) => `/v1/connections/${f.connection}`,
    body: () => connectionBody(),
    consumes: true, // another tenant's admin creates its own connection of that name
  },
  { method: 'DELETE', path: '/v1/connections/{name}', permission: 'admin', ok: 204, url: (f) => `/v1/connections/${f.connection}`, consumes: true },
  { method: 'GET', path: '/v1/pipelines/{id}/artifacts', permission: 'read', ok: 200, url: (f) => `/v1/pipelines/${f.pipelineId}/artifacts` },
  { method: 'GET', path: '/v1/pipelines/{id}/artifacts/{version}', permission: 'read', ok: 200, url: (f) => `/v1/pipelines/${f.pipelineId}/artifacts/1` },
  {
    method: 'GET',
    path: '/v1/pipelines/{id}/artifacts/{version}/diff',
    permission: 'read',
    ok: 200,
    url: (f) => `/v1/pipelines/${f.pipelineId}/artifacts/2/diff`,
  },
  { method: 'GET', path: '/v1/audit', permission: 'admin', ok: 200, url: (f) => `/v1/audit?object=pipeline:${f.pipelineId}` },
  { method: 'GET', path: '/v1/audit/verify', permission: 'admin', ok: 200, url: () => '/v1/audit/verify' },
  { method: 'GET', path: '/v1/pipelines/{id}/versions', permission: 'read', ok: 200, url: (f) => `/v1/pipelines/${f.pipelineId}/versions` },
  { method: 'GET', path: '/v1/pipelines/{id}/versions/{version}', permission: 'read', ok: 200, url: (f) => `/v1/pipelines/${f.pipelineId}/versions/1` },
  {
    method: 'GET',
    path: '/v1/pipelines/{id}/versions/{from}/diff/{to}',
    permission: 'read',
    ok: 200,
    url: (f) => `/v1/pipelines/${f.pipelineId}/versions/1/diff/1`,
  },
  {
    method: 'POST',
    path: '/v1/pipelines/{id}/rollback',
    permission: 'submit',
    ok: 200,
    url: (f) => `/v1/pipelines/${f.pipelineId}/rollback`,
    body: () => ({ version: 1 }),
    consumes: true,
  },
];

/** The identities of the local OIDC issuer (deploy/local/oidc-issuer/server.mjs) and their permissions. */
export const IDENTITIES: Record<string, { tenant: string; permissions: Permission[] }> = {
  alice: { tenant: 'acme', permissions: ['read', 'submit'] },
  bob: { tenant: 'acme', permissions: ['read', 'approve'] },
  carol: { tenant: 'globex', permissions: ['read', 'submit'] },
  admin: { tenant: 'acme', permissions: ['read', 'submit', 'approve', 'admin'] },
  reader: { tenant: 'acme', permissions: ['read'] },
};

/**
 * What `identity` must get on `route` against a fixture of tenant `fixtureTenant` submitted by `submitter`:
 * 403 without the permission (checked before anything is looked up), 404 for another tenant's resource, and
 * for cancel, 403 unless the caller submitted the run or is an admin.
 */
export function expectedStatus(
  route: RouteCase,
  identity: { tenant: string; permissions: Permission[]; isSubmitter: boolean },
  fixtureTenant: string,
): number {
  if (!identity.permissions.includes(route.permission)) return 403;
  const sameTenant = identity.tenant === fixtureTenant;
  const tenantScopedResource = route.path.includes('{');
  if (!sameTenant && tenantScopedResource && !(route.method === 'PUT' && route.path === '/v1/connections/{name}')) return 404;
  if (route.path === '/v1/runs/{id}/cancel' && !identity.isSubmitter && !identity.permissions.includes('admin')) return 403;
  if (route.method === 'PUT' && route.path === '/v1/connections/{name}' && !sameTenant) return 201;
  return route.ok;
}

/** Creates the fixture through the API: a pipeline needing approval, a run of it awaiting approval, a connection. */
export async function createFixture(
  call: Client,
  tokens: { submitter: string; admin: string },
  addArtifacts: (pipelineId: string) => Promise<void> | void,
): Promise<Fixture> {
  const created = await call('POST', '/v1/pipelines', { authorization: bearer(tokens.submitter), body: pipelineBody() });
  if (created.status !== 201) throw new Error(`fixture pipeline: ${created.status} ${created.text}`);
  const pipelineId = created.json().id as string;
  const run = await call('POST', `/v1/pipelines/${pipelineId}/runs`, { authorization: bearer(tokens.submitter) });
  if (run.status !== 202 || run.json().status !== 'awaiting_approval') throw new Error(`fixture run: ${run.status} ${run.text}`);
  const connection = unique('gw-conn');
  const conn = await call('PUT', `/v1/connections/${connection}`, { authorization: bearer(tokens.admin), body: connectionBody() });
  if (conn.status !== 201) throw new Error(`fixture connection: ${conn.status} ${conn.text}`);
  await addArtifacts(pipelineId);
  return { pipelineId, runId: run.json().runId as string, connection };
}

/**
 * SQL (run as the database owner or superuser) giving a pipeline of TRIVIAL_CODE two artifact versions: version 1
 * is stored with the pipeline (left as it is), version 2 is added.
 */
export function artifactSql(pipelineId: string): string {
  const v1 = TRIVIAL_CODE;
  const v2 = 'def transform(rows):\n    return [r for r in rows if r.get("email")]\n';
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  return `INSERT INTO artifacts (pipeline_id, version, sha256, language, code) VALUES
    ('${pipelineId}', 1, encode(sha256(convert_to(${quote(v1)}, 'UTF8')), 'hex'), 'python', ${quote(v1)}),
    ('${pipelineId}', 2, encode(sha256(convert_to(${quote(v2)}, 'UTF8')), 'hex'), 'python', ${quote(v2)})
    ON CONFLICT DO NOTHING`;
}
