/**
 * Authentication against the real OpenBao of the local stack: token, AppRole and Kubernetes (against a fake
 * TokenReview API server, since there is no cluster), token renewal, one login after a revocation whatever the
 * number of callers, backoff after failed logins, and typed failures when Vault is down or sealed.
 */
import { createSign, generateKeyPairSync, randomUUID, verify, type KeyObject } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { VaultPermissionError, VaultUnavailableError } from '../../dist/index.js';
import { approleMount, newStore, rand, root, stackEnvOf, tlsFixture } from './support';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CONNECTIONS = 'aoetl/connections/warehouse';

describe('token auth', () => {
  test('a root token works and never needs renewal', async () => {
    const t = newStore({ method: 'token', token: stackEnvOf('test').AOETL_VAULT_TOKEN! });
    const kv = await t.store.readKv(CONNECTIONS, { sensitive: false });
    expect(kv.data).toMatchObject({ database: 'warehouse' });
    expect(t.audits.find((a) => a.event === 'vault.login')).toMatchObject({ path: 'auth/token', identity: 'token-aoetl-root', outcome: 'ok' });
    t.store.close();
  });

  test('a short-lived token is renewed before it expires and keeps working past its first TTL', async () => {
    const created = await root('POST', 'auth/token/create', { policies: ['etl-agent'], ttl: '2s', explicit_max_ttl: '60s', renewable: true });
    const t = newStore({ method: 'token', token: created.auth.client_token as string }, { kvCacheMs: 0 });
    try {
      await t.store.readKv(CONNECTIONS, { sensitive: false });
      await sleep(5_000); // 2.5 TTLs
      await expect(t.store.readKv(CONNECTIONS, { sensitive: false, version: 1 })).resolves.toMatchObject({ version: 1 });
      expect(t.audits.filter((a) => a.event === 'vault.token_renewed').length).toBeGreaterThanOrEqual(2);
      expect(t.logins()).toBe(1);
    } finally {
      t.store.close();
      await root('POST', 'auth/token/revoke', { token: created.auth.client_token });
    }
  });

  test('a revoked token fails with a permission error (no login is possible for a fixed token)', async () => {
    const created = await root('POST', 'auth/token/create', { policies: ['etl-agent'], ttl: '1m' });
    await root('POST', 'auth/token/revoke', { token: created.auth.client_token });
    const t = newStore({ method: 'token', token: created.auth.client_token as string });
    await expect(t.store.readKv(CONNECTIONS, { sensitive: false })).rejects.toBeInstanceOf(VaultPermissionError);
    t.store.close();
  });
});

describe('AppRole auth', () => {
  test("the etl-agent's AppRole logs in and issues a database credential", async () => {
    const agent = stackEnvOf('etl-agent');
    const t = newStore({ method: 'approle', roleId: agent.AOETL_VAULT_ROLE_ID!, secretId: agent.AOETL_VAULT_SECRET_ID! }, { tenantTokenRole: 'aoetl-tenant' });
    const cred = await t.store.forTenant('acme').databaseCredential('database/creds/acme-source-reader', { runId: randomUUID() });
    await t.store.revoke(cred.leaseId, { runId: 'x' });
    expect(t.audits.find((a) => a.event === 'vault.login')).toMatchObject({ path: 'auth/approle', identity: 'approle:etl-agent' });
    expect(t.logText()).not.toContain(agent.AOETL_VAULT_SECRET_ID!);
    t.store.close();
  });

  test('the token is renewed at 2/3 of its TTL, and replaced by a new login when its max TTL nears', async () => {
    const renewable = await approleMount({ token_ttl: '2s', token_max_ttl: '60s' });
    const capped = await approleMount({ token_ttl: '2s', token_max_ttl: '3s' });
    const a = newStore(renewable.auth, { kvCacheMs: 0 });
    const b = newStore(capped.auth, { kvCacheMs: 0 });
    try {
      await Promise.all([a.store.readKv(CONNECTIONS, { sensitive: false }), b.store.readKv(CONNECTIONS, { sensitive: false })]);
      await sleep(6_500);
      await a.store.readKv(CONNECTIONS, { sensitive: false, version: 1 });
      await b.store.readKv(CONNECTIONS, { sensitive: false, version: 1 });
      // Renewed, never logged in again.
      expect(a.logins()).toBe(1);
      expect(a.audits.filter((x) => x.event === 'vault.token_renewed').length).toBeGreaterThanOrEqual(3);
      // Max TTL 3 s: the adapter logged in again before the token ended; no request ever failed.
      expect(b.logins()).toBeGreaterThanOrEqual(2);
      expect([...a.audits, ...b.audits].filter((x) => x.outcome === 'error')).toEqual([]);
    } finally {
      a.store.close();
      b.store.close();
      await Promise.all([renewable.close(), capped.close()]);
    }
  });

  test('after the token is revoked, 25 concurrent callers cause exactly one login', async () => {
    const m = await approleMount({ token_ttl: '10m' });
    const t = newStore(m.auth, { kvCacheMs: 0 });
    try {
      await t.store.readKv(CONNECTIONS, { sensitive: false });
      expect(t.logins()).toBe(1);
      // Revoke every token this mount issued: ours is now dead.
      await root('POST', `sys/leases/revoke-prefix/auth/${m.mount}/login`, {});
      const results = await Promise.all(Array.from({ length: 25 }, () => t.store.readKv(CONNECTIONS, { sensitive: false })));
      expect(results.every((r) => r.data.database === 'warehouse')).toBe(true);
      expect(t.logins()).toBe(2);
      expect(t.failedLogins()).toBe(0);
    } finally {
      t.store.close();
      await m.close();
    }
  });

  test('a real permission denial fails at once, typed, without logging in again', async () => {
    const agent = stackEnvOf('etl-agent');
    const t = newStore({ method: 'approle', roleId: agent.AOETL_VAULT_ROLE_ID!, secretId: agent.AOETL_VAULT_SECRET_ID! });
    await t.store.readKv(CONNECTIONS, { sensitive: false });
    const denied = await Promise.allSettled(Array.from({ length: 10 }, () => t.store.readKv(`elsewhere/${rand()}`)));
    expect(denied.every((d) => d.status === 'rejected' && d.reason instanceof VaultPermissionError)).toBe(true);
    await expect(t.store.databaseCredential('database/creds/warehouse-admin', { runId: 'r' })).rejects.toBeInstanceOf(VaultPermissionError);
    expect(t.logins()).toBe(1);
    expect(t.audits.filter((a) => a.event === 'kv.read' && a.outcome === 'error').length).toBe(10);
    t.store.close();
  });

  test('failed logins: one in flight for many callers, then exponential backoff', async () => {
    const m = await approleMount({});
    const t = newStore({ ...m.auth, secretId: 'not-the-secret-id' }, { retries: 0 });
    try {
      const burst = await Promise.allSettled(Array.from({ length: 10 }, () => t.store.readKv(CONNECTIONS, { sensitive: false })));
      expect(burst.every((r) => r.status === 'rejected' && r.reason instanceof VaultPermissionError)).toBe(true);
      expect(t.failedLogins()).toBe(1);
      const started = Date.now();
      await expect(t.store.readKv(CONNECTIONS, { sensitive: false })).rejects.toBeInstanceOf(VaultPermissionError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(100); // waited out the backoff (125..250 ms)
      expect(t.failedLogins()).toBe(2);
    } finally {
      t.store.close();
      await m.close();
    }
  });
});

/** A stand-in for the Kubernetes API server's TokenReview endpoint: verifies the JWT's signature and expiry. */
function fakeTokenReviewServer(publicKey: KeyObject, tls: { key: string; cert: string }) {
  const reviews: Array<{ authenticated: boolean }> = [];
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
        res.writeHead(404).end();
        return;
      }
      const review = JSON.parse(body) as { spec: { token: string; audiences?: string[] } };
      const claims = verifyJwt(review.spec.token, publicKey);
      const bearerOk = req.headers.authorization === `Bearer ${review.spec.token}`; // the reviewer authenticates too
      const authenticated = claims !== null && bearerOk;
      reviews.push({ authenticated });
      const k8s = claims?.['kubernetes.io'] as { namespace: string; serviceaccount: { name: string; uid: string } } | undefined;
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          status: authenticated && k8s
            ? {
                authenticated: true,
                user: { username: `system:serviceaccount:${k8s.namespace}:${k8s.serviceaccount.name}`, uid: k8s.serviceaccount.uid },
                audiences: claims.aud,
              }
            : { authenticated: false, error: 'invalid bearer token' },
        }),
      );
    });
  });
  return { server, reviews };
}

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');

function signJwt(claims: Record<string, unknown>, key: KeyObject): string {
  const head = `${b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'test' }))}.${b64url(JSON.stringify(claims))}`;
  const sig = createSign('sha256').update(head).sign({ key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${b64url(sig)}`;
}

function verifyJwt(token: string, key: KeyObject): Record<string, unknown> | null {
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) return null;
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  if (!ok) return null;
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  return typeof claims.exp === 'number' && claims.exp * 1000 > Date.now() ? claims : null;
}

describe('Kubernetes auth (service-account JWT, TokenReview against a fake API server)', () => {
  const ISSUER = 'https://kubernetes.default.svc.cluster.local';
  const mount = `aoetl-test-k8s-${rand()}`;
  const apiKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tls = tlsFixture();
  const { server, reviews } = fakeTokenReviewServer(apiKeys.publicKey, tls);
  const saUid = randomUUID();

  const jwtFor = (sa: string, key = apiKeys.privateKey) => {
    const now = Math.floor(Date.now() / 1000);
    const file = join(tls.dir, `${sa}-${rand()}.jwt`);
    const claims = {
      iss: ISSUER,
      sub: `system:serviceaccount:aoetl:${sa}`,
      aud: ['vault'],
      iat: now,
      exp: now + 600,
      'kubernetes.io': { namespace: 'aoetl', serviceaccount: { name: sa, uid: saUid }, pod: { name: `${sa}-0`, uid: randomUUID() } },
    };
    writeFileSync(file, signJwt(claims, key), { mode: 0o600 });
    return file;
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await root('POST', `sys/auth/${mount}`, { type: 'kubernetes' });
    await root('POST', `auth/${mount}/config`, {
      kubernetes_host: `https://127.0.0.1:${port}`,
      kubernetes_ca_cert: tls.caPem,
      disable_local_ca_jwt: true,
      issuer: ISSUER,
      disable_iss_validation: false,
    });
    await root('POST', `auth/${mount}/role/etl-agent`, {
      bound_service_account_names: ['etl-agent'],
      bound_service_account_namespaces: ['aoetl'],
      audience: 'vault',
      token_policies: ['etl-agent'],
      token_ttl: '10m',
    });
  });

  afterAll(async () => {
    await root('DELETE', `sys/auth/${mount}`);
    await new Promise((r) => server.close(r));
    rmSync(tls.dir, { recursive: true, force: true });
  });

  test("the etl-agent's service-account token logs in once, after the API server reviewed it", async () => {
    const t = newStore({ method: 'kubernetes', role: 'etl-agent', jwtFile: jwtFor('etl-agent'), mount }, { tenantTokenRole: 'aoetl-tenant' });
    const cred = await t.store.forTenant('acme').databaseCredential('database/creds/acme-source-reader', { runId: randomUUID() });
    await t.store.revoke(cred.leaseId, { runId: 'x' });
    expect(reviews).toEqual([{ authenticated: true }]);
    expect(t.logins()).toBe(1);
    expect(t.audits.find((a) => a.event === 'vault.login')).toMatchObject({ path: `auth/${mount}`, identity: 'kubernetes:etl-agent:aoetl/etl-agent' });
    t.store.close();
  });

  test('another service account, or a token the API server did not sign, is refused', async () => {
    const other = newStore({ method: 'kubernetes', role: 'etl-agent', jwtFile: jwtFor('intruder'), mount }, { retries: 0 });
    await expect(other.store.readKv(CONNECTIONS, { sensitive: false })).rejects.toBeInstanceOf(VaultPermissionError);
    const forged = newStore(
      { method: 'kubernetes', role: 'etl-agent', jwtFile: jwtFor('etl-agent', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), mount },
      { retries: 0 },
    );
    const before = reviews.length;
    await expect(forged.store.readKv(CONNECTIONS, { sensitive: false })).rejects.toBeInstanceOf(VaultPermissionError);
    expect(reviews.slice(before)).toEqual([{ authenticated: false }]);
    other.store.close();
    forged.store.close();
  });
});

describe('Vault down or sealed: typed errors after bounded retries', () => {
  test('nothing listening: VaultUnavailableError(unreachable) after exactly `retries` retries', async () => {
    const t = newStore({ method: 'token', token: 'unused-token-value' }, { endpoint: 'https://127.0.0.1:1', retries: 2, retryBaseMs: 10 });
    const err = await t.store.readKv(CONNECTIONS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultUnavailableError);
    expect((err as VaultUnavailableError).reason).toBe('unreachable');
    expect((err as Error).message).toMatch(/vault unreachable/);
    expect(t.logText().match(/vault unavailable; retrying/g)).toHaveLength(2);
    await expect(t.store.ping()).rejects.toMatchObject({ reason: 'unreachable' });
    t.store.close();
  });

  test('sealed: VaultUnavailableError(sealed); requests are bounded (no login storm)', async () => {
    // Sealing the shared OpenBao would lose its in-memory unseal key: a stand-in answers like a sealed Vault.
    const fixture = tlsFixture();
    let requests = 0;
    const sealed = createServer({ key: fixture.key, cert: fixture.cert }, (req, res) => {
      requests++;
      const health = req.url?.startsWith('/v1/sys/health');
      res.writeHead(503, { 'content-type': 'application/json' }).end(
        JSON.stringify(health ? { initialized: true, sealed: true } : { errors: ['Vault is sealed'] }),
      );
    });
    await new Promise<void>((resolve) => sealed.listen(0, '127.0.0.1', resolve));
    const caFile = join(fixture.dir, 'ca.crt');
    const t = newStore(
      { method: 'approle', roleId: 'sealed-test-role', secretId: 's-secret-value' },
      { endpoint: `https://127.0.0.1:${(sealed.address() as AddressInfo).port}`, caFile, retries: 3, retryBaseMs: 10 },
    );
    try {
      const calls = await Promise.allSettled(Array.from({ length: 10 }, () => t.store.readKv(CONNECTIONS)));
      for (const c of calls) {
        expect(c.status).toBe('rejected');
        expect((c as PromiseRejectedResult).reason).toBeInstanceOf(VaultUnavailableError);
        expect((c as PromiseRejectedResult).reason.reason).toBe('sealed');
      }
      expect(requests).toBe(4); // 10 callers share one login per attempt: 1 + 3 retries
      await expect(t.store.ping()).rejects.toMatchObject({ reason: 'sealed' });
    } finally {
      t.store.close();
      await new Promise((r) => sealed.close(r));
      rmSync(fixture.dir, { recursive: true, force: true });
    }
  });
});
