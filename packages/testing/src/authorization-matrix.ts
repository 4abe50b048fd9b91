/**
 * The authorization matrix: every identity × every route, against a fixture in tenant acme submitted by alice.
 * Registers jest tests; used in-process (integration) and against the running gateway (e2e).
 */
import {
  ROUTES,
  bearer,
  createFixture,
  expectedStatus,
  type Client,
  type Fixture,
  type Permission,
  type RouteCase,
} from './gateway-routes.js';

export interface MatrixIdentity {
  name: string;
  tenant: string;
  permissions: Permission[];
  token: () => string;
}

export interface MatrixOptions {
  client: () => Client;
  identities: MatrixIdentity[];
  /** Tokens that create fixtures: `submitter` (alice, acme) submits, `admin` (acme) registers the connection. */
  submitter: () => string;
  admin: () => string;
  submitterName: string;
  addArtifacts: (pipelineId: string) => void | Promise<void>;
}

const FIXTURE_TENANT = 'acme';

export function describeAuthorizationMatrix(opts: MatrixOptions): void {
  let shared: Fixture;
  const fixture = () => createFixture(opts.client(), { submitter: opts.submitter(), admin: opts.admin() }, opts.addArtifacts);

  beforeAll(async () => {
    shared = await fixture();
  });

  const cases: [string, RouteCase, MatrixIdentity][] = [];
  for (const route of ROUTES) {
    for (const identity of opts.identities) cases.push([`${route.method} ${route.path} as ${identity.name}`, route, identity]);
  }

  it.each(cases)('%s', async (_name, route, identity) => {
    const f = route.consumes ? await fixture() : shared;
    const expected = expectedStatus(
      route,
      { tenant: identity.tenant, permissions: identity.permissions, isSubmitter: identity.name === opts.submitterName },
      FIXTURE_TENANT,
    );
    const res = await opts.client()(route.method, route.url(f), {
      authorization: bearer(identity.token()),
      ...(route.body ? { body: route.body(f) } : {}),
      ...(route.headers ? { headers: route.headers } : {}),
    });
    expect({ status: res.status, body: res.status === expected ? '' : res.text }).toEqual({ status: expected, body: '' });
    if (expected >= 400) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      // A 404 for another tenant's resource reads exactly like one for a resource that does not exist.
      if (expected === 404) expect(res.json().title).toBe('not found');
    }
  });

  it('another tenant\'s lists never contain this tenant\'s resources', async () => {
    for (const identity of opts.identities.filter((i) => i.tenant !== FIXTURE_TENANT)) {
      const call = opts.client();
      const auth = { authorization: bearer(identity.token()) };
      const runs = await call('GET', `/v1/runs?pipelineId=${shared.pipelineId}`, auth);
      expect(runs.status).toBe(200);
      expect(runs.json().items).toEqual([]);
      for (const list of ['/v1/pipelines', '/v1/runs', '/v1/approvals', '/v1/connections']) {
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res = await call('GET', `${list}?limit=100${cursor ? `&cursor=${cursor}` : ''}`, auth);
          expect(res.status).toBe(200);
          const text = res.text;
          expect(text).not.toContain(shared.pipelineId);
          expect(text).not.toContain(shared.runId);
          expect(text).not.toContain(shared.connection);
          cursor = res.json().nextCursor;
          pages += 1;
        } while (cursor && pages < 50);
      }
      if (identity.permissions.includes('admin')) {
        const audit = await call('GET', `/v1/audit?object=pipeline:${shared.pipelineId}`, auth);
        expect(audit.status).toBe(200);
        expect(audit.json().items).toEqual([]);
      }
    }
  });
}
