/**
 * The monitor's dashboard in a real browser (Debian's Chromium, driven by playwright-core; no browser download) on
 * the real stack: OIDC login with code + PKCE at the issuer, a run started through the API going from running to
 * succeeded on the page without a reload, tenant isolation, the refusals (no session, tampered cookie, CSRF-less
 * POST), and two monitor processes that show the same after one of them is restarted.
 *
 * The test starts its own two monitor processes from this checkout (ports 8091 and 8092, the redirect URIs the
 * local issuer registers for the dashboard) with the stack monitor's env file. AOETL_E2E_OIDC_ISSUER points them at
 * another issuer than the stack's (one started from a newer checkout, say). Screenshots: <state>/test-results/dashboard/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { MONITOR, REPO, STATE, api, customersPipeline, customersTarget, demoTransform, stackEnv, token, waitFor, waitForRun } from '@aoetl/testing';

jest.setTimeout(420_000);

const CHROMIUM = process.env.AOETL_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(STATE, 'test-results', 'dashboard');
const A = { name: 'a', port: 8091, metrics: 9191 };
const B = { name: 'b', port: 8092, metrics: 9192 };
const url = (m: typeof A) => `http://127.0.0.1:${m.port}`;
const monitorEnv = stackEnv('monitor');
const issuer = process.env.AOETL_E2E_OIDC_ISSUER ?? monitorEnv.AOETL_OIDC_ISSUER;
const password = (identity: string) => readFileSync(join(STATE, 'secrets', `oidc-client-${identity}.secret`), 'utf8').trim();

const processes = new Map<string, ChildProcess>();

async function startMonitor(m: typeof A): Promise<void> {
  const child = spawn(process.execPath, [join(REPO, 'services', 'monitor', 'dist', 'server.js')], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      ...monitorEnv,
      ...(issuer ? { AOETL_OIDC_ISSUER: issuer } : {}),
      AOETL_HTTP_PORT: String(m.port),
      AOETL_METRICS_PORT: String(m.metrics),
      AOETL_CONSUMER_NAME: `monitor-e2e-${m.name}`,
      AOETL_DASHBOARD_URL: url(m),
      AOETL_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  processes.set(m.name, child);
  await waitFor(
    `monitor ${m.name} to be ready on :${m.metrics}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`monitor ${m.name} exited (${child.exitCode}): ${stderr}`);
      return (await fetch(`http://127.0.0.1:${m.metrics}/readyz`).catch(() => undefined))?.ok ? true : undefined;
    },
    60_000,
    250,
  );
}

async function stopMonitor(m: typeof A): Promise<void> {
  const child = processes.get(m.name);
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

let browser: Browser;
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** Logs in through the issuer's form as `identity`, starting at `path` of monitor `m`; returns the page there. */
async function login(ctx: BrowserContext, m: typeof A, identity: string, path = '/runs'): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(`${url(m)}${path}`);
  await page.getByLabel('Identity').fill(identity);
  await page.getByLabel('Password').fill(password(identity));
  await Promise.all([page.waitForURL(`${url(m)}${path}`), page.getByRole('button', { name: 'Log in' }).click()]);
  return page;
}

/** The session cookie the browser holds for 127.0.0.1 (cookies are per host, not per port: both monitors get it). */
async function sessionCookie(ctx: BrowserContext): Promise<string> {
  const c = (await ctx.cookies('http://127.0.0.1')).find((x) => x.name === 'aoetl_session');
  if (!c) throw new Error('no session cookie in the browser');
  expect(c.httpOnly).toBe(true);
  expect(c.sameSite).toBe('Lax');
  return `aoetl_session=${c.value}`;
}

const getJson = async (m: typeof A, path: string, cookie: string) => {
  const res = await fetch(`${url(m)}${path}`, { headers: { cookie } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

async function startRun(identity: string, chunks?: number): Promise<string> {
  const bearer = token(identity);
  const created = await api('POST', '/v1/pipelines', {
    token: bearer,
    body: customersPipeline({ target: customersTarget('dash'), code: demoTransform(), ...(chunks ? { chunks } : {}) }),
  });
  expect(created.status).toBe(201);
  const accepted = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: bearer });
  expect(accepted.status).toBe(202);
  return accepted.body.runId as string;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (deploy/local/stack.sh up does)`);
  mkdirSync(SHOTS, { recursive: true });
  await Promise.all([startMonitor(A), startMonitor(B)]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([stopMonitor(A), stopMonitor(B)]);
});

test('without a session every dashboard path redirects to the login or answers 401, on the stack monitor too', async () => {
  for (const base of [MONITOR, url(A)]) {
    for (const path of ['/', '/runs', '/agents', '/streams', '/violations', '/models']) {
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      expect([base, path, res.status]).toEqual([base, path, 302]);
      expect(res.headers.get('location')).toMatch(/^\/login\?returnTo=/);
    }
    for (const path of ['/api/runs', '/api/overview', '/api/live']) expect((await fetch(`${base}${path}`)).status).toBe(401);
  }
  const toIssuer = await fetch(`${url(A)}/login`, { redirect: 'manual' });
  expect(toIssuer.status).toBe(302);
  const target = new URL(toIssuer.headers.get('location')!);
  expect(target.searchParams.get('code_challenge_method')).toBe('S256');
  expect(target.searchParams.get('client_id')).toBe('aoetl-dashboard');
});

test('an SRE watches a run go from running to succeeded without a reload; a tenant user sees only their tenant', async () => {
  const sre = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await login(sre, A, 'sre');
  await expect(page.locator('#viewer').textContent()).resolves.toBe('sre');
  await expect(page.getByText('SRE, all tenants').count()).resolves.toBe(1);
  await page.locator('#live-state', { hasText: 'Live updates: on' }).waitFor({ timeout: 15_000 });
  // Remember every status each row showed, and mark the document: a reload would lose both.
  // (Browser code as text: the tests compile without the DOM types.)
  await page.evaluate(`
    window.seen = [];
    window.marker = 42;
    new MutationObserver(() => {
      for (const tr of document.querySelectorAll('tr[data-run]')) window.seen.push(tr.dataset.run + ':' + (tr.querySelector('.st')?.textContent ?? ''));
    }).observe(document.querySelector('#runs tbody'), { childList: true, subtree: true, characterData: true });
  `);

  const globexRun = await startRun('carol');
  const runId = await startRun('alice', 4);
  const row = page.locator(`tr[data-run="${runId}"]`);
  await row.locator('.s-running').waitFor({ timeout: 120_000 });
  await expect(row.textContent()).resolves.toContain('acme');
  await shot(page, '1-sre-run-running');
  await row.locator('.s-succeeded').waitFor({ timeout: 240_000 });
  await shot(page, '2-sre-run-succeeded');
  const { seen, marker } = await page.evaluate<{ seen: string[]; marker: number }>('({ seen: window.seen, marker: window.marker })');
  expect(marker).toBe(42);
  expect(seen).toContain(`${runId}:running`);
  expect(seen).toContain(`${runId}:succeeded`);
  expect(seen.indexOf(`${runId}:running`)).toBeLessThan(seen.indexOf(`${runId}:succeeded`));
  const finished = await waitForRun(runId, token('alice'));
  expect(finished.status).toBe('succeeded');
  await expect(row.locator('.rows').textContent()).resolves.toBe(String(finished.rowsOut));

  // The SRE sees the other tenant's run; its detail page shows steps, chunks and the artifact.
  await page.goto(`${url(A)}/runs?tenant=globex`);
  await page.locator(`tr[data-run="${globexRun}"]`).waitFor();
  await page.goto(`${url(A)}/runs/${runId}`);
  await expect(page.getByRole('heading', { name: 'Steps' }).count()).resolves.toBe(1);
  const detail = await page.locator('main').textContent();
  expect(detail).toContain('succeeded');
  expect(detail).toMatch(/sha256\s*[0-9a-f]{64}/);
  await shot(page, '3-sre-run-detail');
  for (const path of ['/', '/agents', '/streams', '/violations', '/models']) {
    await page.goto(`${url(A)}${path}`);
    await shot(page, `4-sre${path === '/' ? '-overview' : path.replace('/', '-')}`);
  }
  await page.goto(`${url(A)}/agents`);
  await expect(page.locator('main').textContent()).resolves.toMatch(/etl-agent[\s\S]*docker\/(runsc|runc)/);
  await page.goto(`${url(A)}/`);
  await expect(page.locator('#finished').textContent()).resolves.toMatch(/^[1-9]\d*$/);

  // A tenant user: their tenant's run, none of the other tenant's, and no SRE pages.
  const tenant = await browser.newContext({ ignoreHTTPSErrors: true });
  const alice = await login(tenant, A, 'alice');
  await alice.locator(`tr[data-run="${runId}"]`).waitFor();
  const text = (await alice.locator('main').textContent()) ?? '';
  expect(text).toContain('succeeded');
  expect(await alice.locator(`tr[data-run="${globexRun}"]`).count()).toBe(0);
  expect(text).not.toContain(globexRun.slice(0, 8));
  expect(text).not.toContain('globex');
  await expect(alice.locator('nav').textContent()).resolves.not.toContain('Streams');
  await shot(alice, '5-tenant-runs');
  const aliceCookie = await sessionCookie(tenant);
  expect((await getJson(A, `/api/runs?tenant=globex`, aliceCookie)).body.runs).not.toContainEqual(expect.objectContaining({ tenant: 'globex' }));
  expect((await fetch(`${url(A)}/streams`, { headers: { cookie: aliceCookie } })).status).toBe(403);
  await alice.goto(`${url(A)}/runs/${globexRun}`);
  await expect(alice.getByRole('heading', { name: 'Run not found' }).count()).resolves.toBe(1);

  // Refusals with a real session: tampered cookie 401, POST without CSRF token 403 (an expired session: the unit tests).
  const cookie = await sessionCookie(sre);
  const tampered = cookie.slice(0, -4) + (cookie.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const refused = await fetch(`${url(A)}/runs`, { headers: { cookie: tampered }, redirect: 'manual' });
  expect(refused.status).toBe(401);
  expect(await refused.text()).toContain('Your session cookie is not valid');
  expect((await fetch(`${url(A)}/api/deadletters/0-1/replay`, { method: 'POST', headers: { cookie } })).status).toBe(403);
  await sre.close();
  await tenant.close();
});

test('two monitor processes show the same runs and counts, also after one is restarted', async () => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await login(ctx, A, 'sre', '/');
  const cookie = await sessionCookie(ctx);
  const view = async (m: typeof A) => {
    const runs = await getJson(m, '/api/runs?limit=50', cookie);
    const overview = await getJson(m, '/api/overview', cookie);
    expect([runs.status, overview.status]).toEqual([200, 200]);
    return { runs: (runs.body.runs as { id: string; status: string }[]).map((r) => `${r.id}:${r.status}`), totals: overview.body.totals };
  };
  // Other tests may change runs meanwhile: both must agree on one snapshot within a few tries.
  const agree = () =>
    waitFor('both monitors to show the same runs and counts', async () => {
      const [a, b] = await Promise.all([view(A), view(B)]);
      return JSON.stringify(a) === JSON.stringify(b) ? a : undefined;
    }, 15_000, 300);
  const before = await agree();
  expect(before.runs.length).toBeGreaterThan(0);

  await stopMonitor(B);
  await startMonitor(B);
  const after = await agree();
  expect(after.runs.length).toBeGreaterThan(0);

  // The restarted process shows the same page to the same person (the session cookie works on every replica).
  const pageB = await ctx.newPage();
  await waitFor('both overview pages to show the same totals', async () => {
    await Promise.all([page.reload(), pageB.goto(`${url(B)}/`)]);
    const [ta, tb] = await Promise.all([page.locator('#totals').textContent(), pageB.locator('#totals').textContent()]);
    return ta === tb && /succeeded/.test(tb ?? '') ? true : undefined;
  }, 20_000, 500);
  await shot(pageB, '6-replica-b-overview-after-restart');
  await ctx.close();
});
