// The device authorization flow of the development issuer, end to end over HTTP, driven with fetch as a person's
// browser would (verification page, code confirmation, login form). Run: node --test deploy/local/oidc-issuer/
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { createHash, randomBytes } from 'node:crypto';

import { CLI_CLIENT_ID, createIssuer, DASHBOARD_CLIENT_ID, RESOURCE } from './provider.mjs';

const stateDir = mkdtempSync(join(tmpdir(), 'aoetl-issuer-test-'));
let server;
let base;

before(async () => {
  server = createServer((req, res) => handlerRef(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  handlerRef = createIssuer({ issuer: base, stateDir, dashboardRedirectUris: [REDIRECT] }).handler;
});
after(() => server.close());
let handlerRef;
const REDIRECT = 'http://127.0.0.1:1/auth/callback';

/** A tiny browser: keeps cookies, follows redirects. */
function browser() {
  const jar = new Map();
  return async function go(url, init = {}) {
    let target = new URL(url, base);
    let options = init;
    for (let hops = 0; hops < 10; hops++) {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await fetch(target, { ...options, redirect: 'manual', headers: { ...(options.headers ?? {}), ...(cookie ? { cookie } : {}) } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      if (res.status < 300 || res.status >= 400) return { status: res.status, url: target.toString(), html: await res.text() };
      target = new URL(res.headers.get('location'), target);
      options = {};
    }
    throw new Error('too many redirects');
  };
}

const post = (form) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
const field = (html, name) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

async function deviceAuthorization(scope = 'openid offline_access aoetl:read aoetl:submit aoetl:approve aoetl:admin') {
  const discovery = await (await fetch(`${base}/.well-known/openid-configuration`)).json();
  assert.ok(discovery.device_authorization_endpoint, 'discovery names the device authorization endpoint');
  const res = await fetch(discovery.device_authorization_endpoint, post({ client_id: CLI_CLIENT_ID, scope, resource: RESOURCE }));
  assert.equal(res.status, 200);
  return { discovery, auth: await res.json() };
}

async function poll(discovery, auth) {
  const res = await fetch(discovery.token_endpoint, post({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: auth.device_code, client_id: CLI_CLIENT_ID, resource: RESOURCE }));
  return { status: res.status, body: await res.json() };
}

/** The person: opens the verification page, confirms the code, logs in. Returns the last page. */
async function approve(auth, user, password) {
  const go = browser();
  const input = await go(auth.verification_uri);
  const confirm = await go(auth.verification_uri, post({ xsrf: field(input.html, 'xsrf'), user_code: auth.user_code }));
  assert.match(confirm.html, /confirm the code/);
  const login = await go(auth.verification_uri, post({ xsrf: field(confirm.html, 'xsrf'), user_code: field(confirm.html, 'user_code'), confirm: 'yes' }));
  assert.match(login.url, /\/interaction\//);
  const action = /action="([^"]+\/login)"/.exec(login.html)?.[1];
  assert.ok(action, 'the login page has a form');
  return go(action, post({ username: user, password }));
}

test('device flow: pending until the person logs in, then a JWT for aoetl-api with the identity roles only', async () => {
  const { discovery, auth } = await deviceAuthorization();
  assert.match(auth.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
  const pending = await poll(discovery, auth);
  assert.equal(pending.status, 400);
  assert.equal(pending.body.error, 'authorization_pending');

  const secret = readFileSync(join(stateDir, 'secrets', 'oidc-client-alice.secret'), 'utf8').trim();
  const done = await approve(auth, 'alice', secret);
  assert.equal(done.status, 200);
  assert.match(done.html, /signed in/);

  const token = await poll(discovery, auth);
  assert.equal(token.status, 200, JSON.stringify(token.body));
  const c = claims(token.body.access_token);
  assert.equal(c.sub, 'alice');
  assert.equal(c.aud, 'aoetl-api');
  assert.equal(c.tenant, 'acme');
  assert.deepEqual(c.roles, ['submit', 'read']);
  assert.deepEqual(c.scope.split(' ').sort(), ['aoetl:read', 'aoetl:submit']);
  assert.ok(token.body.refresh_token, 'offline_access gives a refresh token');

  const refreshed = await fetch(discovery.token_endpoint, post({ grant_type: 'refresh_token', refresh_token: token.body.refresh_token, client_id: CLI_CLIENT_ID, resource: RESOURCE }));
  assert.equal(refreshed.status, 200);
  assert.equal(claims((await refreshed.json()).access_token).sub, 'alice');
});

test('device flow: a wrong password is refused and no token is issued', async () => {
  const { discovery, auth } = await deviceAuthorization();
  const page = await approve(auth, 'bob', 'not-the-secret');
  assert.equal(page.status, 401);
  assert.match(page.html, /Wrong identity or password/);
  assert.equal((await poll(discovery, auth)).body.error, 'authorization_pending');
});

test('client credentials still work for the identities', async () => {
  const secret = readFileSync(join(stateDir, 'secrets', 'oidc-client-bob.secret'), 'utf8').trim();
  const res = await fetch(`${base}/token`, {
    ...post({ grant_type: 'client_credentials', scope: 'aoetl:read aoetl:approve aoetl:admin', resource: RESOURCE }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`bob:${secret}`).toString('base64')}` },
  });
  assert.equal(res.status, 200);
  const c = claims((await res.json()).access_token);
  assert.deepEqual(c.roles, ['approve', 'read']);
  assert.equal(c.scope.split(' ').sort().join(' '), 'aoetl:approve aoetl:read');
});

/** The dashboard's browser login: /auth with PKCE, the login form, the redirect back with a code. */
async function authorize(user, password, { challenge, verifier = randomBytes(32).toString('base64url') } = {}) {
  const params = new URLSearchParams({
    client_id: DASHBOARD_CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid aoetl:read aoetl:submit aoetl:admin aoetl:sre',
    resource: RESOURCE,
    state: 'st4te',
    nonce: 'n0nce',
    ...(challenge === null ? {} : { code_challenge: challenge ?? createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }),
  });
  // The browser stops at the redirect URI (nothing listens there): follow by hand until it is reached.
  let res = await fetch(`${base}/auth?${params}`, { redirect: 'manual' });
  const cookies = new Map();
  const keep = (r) => r.headers.getSetCookie().forEach((c) => { const [pair] = c.split(';'); const i = pair.indexOf('='); cookies.set(pair.slice(0, i), pair.slice(i + 1)); });
  const jar = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  keep(res);
  for (let hops = 0; hops < 10; hops++) {
    const location = res.headers.get('location');
    if (!location) return { status: res.status, html: await res.text(), verifier };
    const url = new URL(location, base);
    if (url.href.startsWith(REDIRECT)) return { redirect: url, verifier };
    if (/\/interaction\/[^/]+$/.test(url.pathname)) {
      const login = await fetch(url, { headers: { cookie: jar() } });
      const action = /action="([^"]+\/login)"/.exec(await login.text())?.[1];
      assert.ok(action, 'the login page has a form');
      res = await fetch(new URL(action, base), { ...post({ username: user, password }), redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar() } });
    } else {
      res = await fetch(url, { redirect: 'manual', headers: { cookie: jar() } });
    }
    keep(res);
  }
  throw new Error('too many redirects');
}

const exchange = (code, verifier) =>
  fetch(`${base}/token`, post({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: DASHBOARD_CLIENT_ID, code_verifier: verifier, resource: RESOURCE }));

test('authorization code + PKCE: the sre logs in and gets a JWT for aoetl-api with the sre role only', async () => {
  const secret = readFileSync(join(stateDir, 'secrets', 'oidc-client-sre.secret'), 'utf8').trim();
  const { redirect } = await authorize('sre', secret);
  assert.ok(redirect, 'the issuer redirects back to the dashboard');
  assert.equal(redirect.searchParams.get('state'), 'st4te');
  const code = redirect.searchParams.get('code');
  assert.ok(code);

  const wrong = await exchange(code, randomBytes(32).toString('base64url'));
  assert.equal(wrong.status, 400, 'a wrong code_verifier is refused');
  assert.equal((await wrong.json()).error, 'invalid_grant');

  const { redirect: again, verifier: v2 } = await authorize('sre', secret);
  const res = await exchange(again.searchParams.get('code'), v2);
  assert.equal(res.status, 200);
  const body = await res.json();
  const c = claims(body.access_token);
  assert.equal(c.sub, 'sre');
  assert.equal(c.aud, 'aoetl-api');
  assert.equal(c.tenant, 'platform');
  assert.deepEqual(c.roles, ['sre']);
  assert.equal(c.scope, 'aoetl:sre');
  assert.ok(body.id_token, 'an ID token comes with the openid scope');
  assert.equal(claims(body.id_token).nonce, 'n0nce');
});

test('authorization code: a request without PKCE is refused before any login', async () => {
  const { redirect } = await authorize('alice', 'unused', { challenge: null });
  assert.ok(redirect, 'the error goes back to the redirect URI');
  assert.equal(redirect.searchParams.get('error'), 'invalid_request');
  assert.match(redirect.searchParams.get('error_description'), /PKCE/);
});

test('authorization code: a wrong password gives no code', async () => {
  const out = await authorize('carol', 'not-the-secret');
  assert.equal(out.status, 401);
  assert.match(out.html, /Wrong identity or password/);
});
