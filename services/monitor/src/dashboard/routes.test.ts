import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Principal } from '@aoetl/auth';
import { UnauthorizedError } from '@aoetl/contracts';
import type { AgentsView } from './agents';
import { RunFeed } from './live';
import type { DashboardReads, RunRow, TenantScope } from './read-model';
import { dashboardRoutes, LOGIN_COOKIE, SESSION_COOKIE } from './routes';
import { CookieSealer, pkceChallenge, type Session } from './session';

const SECRET = 'x'.repeat(40);
const uplot = join(__dirname, '..', '..', 'node_modules', 'uplot', 'dist');

const run = (tenant: string, over: Partial<RunRow> = {}): RunRow => ({
  id: '11111111-2222-4333-8444-555555555555',
  tenant,
  pipeline: `${tenant}-orders`,
  status: 'failed',
  chunks: 1,
  rowsOut: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:01.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
  durationSeconds: 1,
  error: { code: 'transform', message: 'bad value <text:5>' },
  ...over,
});

/** The read model, recording the scopes it was asked for. */
function fakeReads(scopes: TenantScope[]): DashboardReads {
  return {
    runs: async (scope: TenantScope) => {
      scopes.push(scope);
      return [run('acme'), run('globex', { id: '21111111-2222-4333-8444-555555555555' })].filter((r) => scope === null || r.tenant === scope);
    },
    changedSince: async () => [],
    run: async () => null,
    overview: async () => ({ windowMinutes: 60, bucketSeconds: 60, totals: { failed: 2 }, series: [], errorRate: 1, p50Seconds: 1, p95Seconds: 1 }),
    violations: async () => [],
    hasModelUsage: async () => false,
  } as unknown as DashboardReads;
}

const principal = (sub: string, tenant: string, roles: string[]): Principal => ({ issuer: 'https://issuer', subject: sub, id: `https://issuer|${sub}`, tenant, roles, scopes: [] });

async function build(opts: { baseUrl?: string; principal?: Principal; replay?: jest.Mock; dbDown?: boolean } = {}) {
  const scopes: TenantScope[] = [];
  const logins: { code: string; verifier: string }[] = [];
  const app: FastifyInstance = Fastify();
  const reads = opts.dbDown
    ? (new Proxy({}, { get: () => async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5433')) }) as DashboardReads)
    : fakeReads(scopes);
  await app.register(dashboardRoutes, {
    baseUrl: opts.baseUrl ?? 'http://127.0.0.1:8090',
    sessionSecret: SECRET,
    sessionTtlSeconds: 3600,
    login: {
      authorizationUrl: async ({ redirectUri, state, challenge }) => `https://issuer/auth?redirect_uri=${encodeURIComponent(redirectUri)}&state=${state}&code_challenge=${challenge}`,
      principalFromCode: async (input) => {
        logins.push(input);
        if (input.code === 'bad') throw new UnauthorizedError('the issuer refused the code: invalid_grant');
        return opts.principal ?? principal('sre', 'platform', ['sre']);
      },
    },
    reads,
    feed: new RunFeed(reads, { warn: () => undefined } as never),
    agents: { list: () => [], error: null } as unknown as AgentsView,
    streams: {
      length: async () => 3,
      groups: async () => [{ group: 'monitor', lag: 0, pending: 0 }],
      list: async () => [],
      count: async () => 0,
      replay: opts.replay ?? jest.fn(async () => ({ kind: 'replayed' as const, stream: 'aoetl:events', replayedAs: '1-1' })),
    },
    publicDir: join(__dirname, '..', '..', 'public'),
    chartJs: join(uplot, 'uPlot.iife.min.js'),
    chartCss: join(uplot, 'uPlot.min.css'),
  });
  return { app, scopes, logins, sealer: new CookieSealer(SECRET) };
}

const sessionCookie = (sealer: CookieSealer, over: Partial<Session> = {}) =>
  `${SESSION_COOKIE}=${sealer.seal('session', { issuer: 'https://issuer', subject: 'alice', tenant: 'acme', roles: ['read'], csrf: 'c'.repeat(43), expiresAt: Date.now() + 60_000, ...over })}`;

const setCookies = (res: { headers: Record<string, unknown> }): string[] => {
  const h = res.headers['set-cookie'];
  return Array.isArray(h) ? (h as string[]) : typeof h === 'string' ? [h] : [];
};

describe('dashboard access', () => {
  let t: Awaited<ReturnType<typeof build>>;
  beforeEach(async () => {
    t = await build();
  });
  afterEach(async () => t.app.close());

  test('without a session: pages redirect to the login, the API answers 401, assets are public', async () => {
    for (const url of ['/', '/runs', '/agents', '/streams', '/violations', '/models', '/runs/11111111-2222-4333-8444-555555555555']) {
      const res = await t.app.inject({ url });
      expect([url, res.statusCode]).toEqual([url, 302]);
      expect(res.headers.location).toBe(`/login?returnTo=${encodeURIComponent(url)}`);
    }
    for (const url of ['/api/runs', '/api/overview', '/api/live']) {
      const res = await t.app.inject({ url });
      expect([url, res.statusCode, res.json().code]).toEqual([url, 401, 'unauthorized']);
    }
    expect((await t.app.inject({ method: 'POST', url: '/api/deadletters/1-1/replay' })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/assets/uPlot.iife.min.js' })).statusCode).toBe(200);
  });

  test('a forged or tampered session cookie is refused with 401 and cleared', async () => {
    const good = sessionCookie(t.sealer);
    const value = good.slice(SESSION_COOKIE.length + 1);
    const flipped = value.slice(0, -3) + (value.endsWith('A') ? 'B' : 'A') + value.slice(-2);
    const otherKey = sessionCookie(new CookieSealer('y'.repeat(40)));
    const loginCookieAsSession = `${SESSION_COOKIE}=${t.sealer.seal('login', { state: 's', verifier: 'v', returnTo: '/', expiresAt: Date.now() + 1000 })}`;
    for (const cookie of [`${SESSION_COOKIE}=${flipped}`, otherKey, `${SESSION_COOKIE}=v1.AAAA`, `${SESSION_COOKIE}={"subject":"sre","roles":["sre"]}`, loginCookieAsSession]) {
      const page = await t.app.inject({ url: '/runs', headers: { cookie } });
      expect(page.statusCode).toBe(401);
      expect(page.body).toContain('Your session cookie is not valid');
      expect(setCookies(page).join()).toMatch(new RegExp(`${SESSION_COOKIE}=; Path=/; Max-Age=0`));
      expect((await t.app.inject({ url: '/api/runs', headers: { cookie } })).statusCode).toBe(401);
    }
  });

  test('an expired session goes back to the login (pages) or 401 session_expired (API)', async () => {
    const cookie = sessionCookie(t.sealer, { expiresAt: Date.now() - 1 });
    const page = await t.app.inject({ url: '/runs?status=failed', headers: { cookie } });
    expect(page.statusCode).toBe(302);
    expect(page.headers.location).toBe(`/login?returnTo=${encodeURIComponent('/runs?status=failed')}`);
    const api = await t.app.inject({ url: '/api/runs', headers: { cookie } });
    expect([api.statusCode, api.json().code]).toEqual([401, 'session_expired']);
  });

  test('a tenant user sees their tenant only; an SRE sees every tenant', async () => {
    const tenant = await t.app.inject({ url: '/runs', headers: { cookie: sessionCookie(t.sealer) } });
    expect(tenant.statusCode).toBe(200);
    expect(tenant.body).toContain('acme-orders');
    expect(tenant.body).not.toContain('globex');
    expect(tenant.headers['content-security-policy']).toContain("script-src 'self'");
    const sre = await t.app.inject({ url: '/runs?tenant=globex', headers: { cookie: sessionCookie(t.sealer, { subject: 'sre', tenant: 'platform', roles: ['sre'] }) } });
    expect(sre.body).toContain('globex-orders');
    expect(t.scopes).toEqual(['acme', null]);
    // The failure is shown as readers see it.
    expect(tenant.body).toContain('transform: bad value &lt;text:5&gt;');
  });

  test('agents and streams are for SREs only', async () => {
    const cookie = sessionCookie(t.sealer);
    expect((await t.app.inject({ url: '/agents', headers: { cookie } })).statusCode).toBe(403);
    expect((await t.app.inject({ url: '/streams', headers: { cookie } })).statusCode).toBe(403);
    const sre = sessionCookie(t.sealer, { roles: ['sre'] });
    const streams = await t.app.inject({ url: '/streams', headers: { cookie: sre } });
    expect(streams.statusCode).toBe(200);
    expect(streams.body).toContain('aoetl:deadletter');
  });

  test('a POST without the CSRF token, with a wrong one or from another origin is refused with 403', async () => {
    const replay = jest.fn(async () => ({ kind: 'replayed' as const, stream: 'aoetl:events', replayedAs: '2-0' }));
    await t.app.close();
    t = await build({ replay });
    const csrf = 'k'.repeat(43);
    const cookie = sessionCookie(t.sealer, { roles: ['sre'], csrf });
    const url = '/api/deadletters/1-1/replay';
    expect((await t.app.inject({ method: 'POST', url, headers: { cookie } })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url, headers: { cookie, 'x-csrf-token': 'z'.repeat(43) } })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url, headers: { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' } })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: '/logout', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'csrf=nope' })).statusCode).toBe(403);
    expect(replay).not.toHaveBeenCalled();
    const ok = await t.app.inject({ method: 'POST', url, headers: { cookie, 'x-csrf-token': csrf, origin: 'http://127.0.0.1:8090' } });
    expect([ok.statusCode, ok.json()]).toEqual([200, { replayedAs: '2-0', stream: 'aoetl:events' }]);
    // A tenant user with a valid token still may not replay.
    const tenant = sessionCookie(t.sealer, { csrf });
    expect((await t.app.inject({ method: 'POST', url, headers: { cookie: tenant, 'x-csrf-token': csrf } })).statusCode).toBe(403);
    const out = await t.app.inject({ method: 'POST', url: '/logout', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: `csrf=${csrf}` });
    expect(out.statusCode).toBe(200);
    expect(setCookies(out).join()).toContain(`${SESSION_COOKIE}=; Path=/; Max-Age=0`);
  });
});

test('a dependency that is down is named on the page, and the rest still shows', async () => {
  const t = await build({ dbDown: true });
  try {
    const cookie = sessionCookie(t.sealer, { roles: ['sre'] });
    for (const url of ['/', '/runs', '/violations']) {
      const res = await t.app.inject({ url, headers: { cookie } });
      expect([url, res.statusCode]).toEqual([url, 200]);
      expect(res.body).toContain('the control database (PostgreSQL) is unreachable: connect ECONNREFUSED');
      expect(res.body).toContain('Signed in as');
    }
    const api = await t.app.inject({ url: '/api/runs', headers: { cookie } });
    expect([api.statusCode, api.json().code]).toEqual([503, 'dependency_down']);
    // Streams come from Redis, not the database: that page is whole.
    expect((await t.app.inject({ url: '/streams', headers: { cookie } })).body).not.toContain('unreachable');
  } finally {
    await t.app.close();
  }
});

describe('dashboard login', () => {
  test('code + PKCE: the login cookie carries state and verifier; the callback sets an HttpOnly, SameSite session cookie', async () => {
    const t = await build();
    try {
      const start = await t.app.inject({ url: '/login?returnTo=/runs' });
      expect(start.statusCode).toBe(302);
      const target = new URL(String(start.headers.location));
      expect(target.searchParams.get('redirect_uri')).toBe('http://127.0.0.1:8090/auth/callback');
      const loginCookie = setCookies(start).find((c) => c.startsWith(`${LOGIN_COOKIE}=`))!;
      expect(loginCookie).toMatch(/HttpOnly/);
      expect(loginCookie).toMatch(/SameSite=Lax/);
      expect(loginCookie).not.toMatch(/Secure/);
      const cookie = loginCookie.split(';')[0]!;
      const state = target.searchParams.get('state')!;

      const wrongState = await t.app.inject({ url: `/auth/callback?code=abc&state=other`, headers: { cookie } });
      expect(wrongState.statusCode).toBe(400);
      const noCookie = await t.app.inject({ url: `/auth/callback?code=abc&state=${state}` });
      expect(noCookie.statusCode).toBe(400);
      const refused = await t.app.inject({ url: `/auth/callback?code=bad&state=${state}`, headers: { cookie } });
      expect(refused.statusCode).toBe(401);

      const done = await t.app.inject({ url: `/auth/callback?code=abc&state=${state}`, headers: { cookie } });
      expect(done.statusCode).toBe(302);
      expect(done.headers.location).toBe('/runs');
      expect(pkceChallenge(t.logins[t.logins.length - 1]!.verifier)).toBe(target.searchParams.get('code_challenge'));
      const session = setCookies(done).find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
      expect(session).toMatch(/HttpOnly/);
      expect(session).toMatch(/SameSite=Lax/);
      expect(session).toMatch(/Max-Age=3600/);
      const page = await t.app.inject({ url: '/runs', headers: { cookie: session.split(';')[0]! } });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('SRE, all tenants');
    } finally {
      await t.app.close();
    }
  });

  test('over TLS the cookies are Secure; an absolute returnTo is not followed', async () => {
    const t = await build({ baseUrl: 'https://monitor.example' });
    try {
      const start = await t.app.inject({ url: '/login?returnTo=//evil.example/x' });
      const loginCookie = setCookies(start).find((c) => c.startsWith(`${LOGIN_COOKIE}=`))!;
      expect(loginCookie).toMatch(/; Secure/);
      const state = new URL(String(start.headers.location)).searchParams.get('state')!;
      const done = await t.app.inject({ url: `/auth/callback?code=abc&state=${state}`, headers: { cookie: loginCookie.split(';')[0]! } });
      expect(done.headers.location).toBe('/');
      expect(setCookies(done).find((c) => c.startsWith(`${SESSION_COOKIE}=`))).toMatch(/; Secure/);
    } finally {
      await t.app.close();
    }
  });
});
