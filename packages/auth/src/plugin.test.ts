import Fastify, { type FastifyInstance } from 'fastify';
import { problems } from '@aoetl/http';

import { LocalIssuer, makeKey, makeTestCa, signHs256, signJwt, type SigningKey } from '@aoetl/testing';
import { aoetlAuth, requireRole, type AuthPluginOptions } from './index.js';

const AUDIENCE = 'aoetl-api';
const tls = makeTestCa();
const rsa = makeKey('RS256');
const ec = makeKey('ES256');
const ed = makeKey('EdDSA');
const issuer = new LocalIssuer(tls, [rsa, ec, ed]);
// A second allow-listed issuer whose (different) key reuses the first issuer's RSA kid.
const kidTwin = makeKey('RS256', rsa.kid);
const twinIssuer = new LocalIssuer(tls, [kidTwin]);
// Not allow-listed: serves the attacker's own key.
const attackerKey = makeKey('RS256');
const attacker = new LocalIssuer(tls, [attackerKey]);

const now = () => Math.floor(Date.now() / 1000);

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: issuer.issuer,
    sub: 'alice',
    aud: AUDIENCE,
    iat: now(),
    exp: now() + 600,
    tenant: 'acme',
    roles: ['submit', 'read'],
    scope: 'aoetl:read aoetl:submit',
    ...overrides,
  };
}

function token(key: SigningKey = rsa, overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  return signJwt({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }, claims(overrides), key.privateKey);
}

// Served on a real loopback port (fastify.inject's light-my-request pulls in an ESM-only
// dependency that jest cannot load).
interface TestApp {
  fastify: FastifyInstance;
  url: string;
}

interface Response {
  statusCode: number;
  headers: Record<string, string>;
  json: () => unknown;
}

async function buildApp(options: Partial<AuthPluginOptions> = {}): Promise<TestApp> {
  const fastify = Fastify({ logger: process.env.AUTH_TEST_LOG ? { level: 'info' } : false });
  await fastify.register(problems);
  await fastify.register(aoetlAuth, {
    issuers: [issuer.issuer, twinIssuer.issuer],
    audience: AUDIENCE,
    ca: tls.caPem,
    ...options,
  });
  fastify.get('/me', (request, reply) => reply.send(request.principal));
  fastify.get('/health', { config: { auth: false } }, (_request, reply) => reply.send({ ok: true }));
  fastify.post('/approve', { preHandler: requireRole('approve', 'admin') }, (_request, reply) =>
    reply.send({ approved: true }),
  );
  const url = await fastify.listen({ host: '127.0.0.1', port: 0 });
  return { fastify, url };
}

async function call(app: TestApp, method: string, path: string, authorization?: string): Promise<Response> {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: authorization === undefined ? {} : { authorization },
  });
  const text = await res.text();
  return { statusCode: res.status, headers: Object.fromEntries(res.headers), json: () => JSON.parse(text) as unknown };
}

const get = (app: TestApp, authorization?: string) => call(app, 'GET', '/me', authorization);
const bearer = (app: TestApp, jwt: string) => get(app, `Bearer ${jwt}`);

function expectUnauthorized(res: Response, tokenPresented = true): void {
  expect(res.statusCode).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toStrictEqual({ type: 'about:blank', title: 'Unauthorized', status: 401 });
  expect(res.headers['www-authenticate']).toBe(tokenPresented ? 'Bearer error="invalid_token"' : 'Bearer');
}

let app: TestApp;

beforeAll(async () => {
  await Promise.all([issuer.start(), twinIssuer.start(), attacker.start()]);
  app = await buildApp();
});

afterAll(async () => {
  await app?.fastify.close();
  await Promise.all([issuer.stop(), twinIssuer.stop(), attacker.stop()]);
});

describe('valid tokens', () => {
  it.each([
    ['RS256', rsa],
    ['ES256', ec],
    ['EdDSA', ed],
  ])('accepts a %s token and sets request.principal', async (_alg, key) => {
    const res = await bearer(app, token(key));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toStrictEqual({
      issuer: issuer.issuer,
      subject: 'alice',
      id: `${issuer.issuer}|alice`,
      tenant: 'acme',
      roles: ['submit', 'read'],
      scopes: ['aoetl:read', 'aoetl:submit'],
    });
  });

  it('accepts an audience array containing the audience', async () => {
    expect((await bearer(app, token(rsa, { aud: ['other', AUDIENCE] }))).statusCode).toBe(200);
  });

  it('tolerates a small clock skew on exp', async () => {
    expect((await bearer(app, token(rsa, { exp: now() - 5 }))).statusCode).toBe(200);
  });

  it('serves the JWKS from cache', async () => {
    const before = issuer.jwksFetches();
    for (let i = 0; i < 5; i += 1) expect((await bearer(app, token(ec))).statusCode).toBe(200);
    expect(issuer.jwksFetches()).toBe(before);
  });

  it('lets routes opt out with config.auth = false', async () => {
    const res = await call(app, 'GET', '/health');
    expect(res.statusCode).toBe(200);
  });
});

describe('rejected tokens', () => {
  it('rejects a missing token', async () => {
    expectUnauthorized(await get(app), false);
  });

  it.each([
    ['Basic YWxpY2U6c2VjcmV0'],
    ['Bearer'],
    ['Bearer '],
    ['Bearer not-a-jwt'],
    ['Bearer a.b'],
    ['bearer x.y.z'],
    ['Bearer  x.y.z'],
    ['Bearer x.y.z extra'],
    ['Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln'],
  ])('rejects the malformed header %p', async (header) => {
    expectUnauthorized(await get(app, header));
  });

  it('rejects alg none', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', kid: rsa.kid, typ: 'at+jwt' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims())).toString('base64url');
    expectUnauthorized(await bearer(app, `${header}.${payload}.`));
    expectUnauthorized(await bearer(app, `${header}.${payload}.AAAA`));
  });

  it('rejects HS256 signed with the RSA public key', async () => {
    const publicPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const jwt = signHs256({ alg: 'HS256', kid: rsa.kid, typ: 'at+jwt' }, claims(), publicPem);
    expectUnauthorized(await bearer(app, jwt));
  });

  it('rejects an expired token', async () => {
    expectUnauthorized(await bearer(app, token(rsa, { iat: now() - 1200, exp: now() - 600 })));
  });

  it('rejects a token whose nbf is in the future', async () => {
    expectUnauthorized(await bearer(app, token(rsa, { nbf: now() + 600 })));
  });

  it('rejects a token whose iat is in the future', async () => {
    expectUnauthorized(await bearer(app, token(rsa, { iat: now() + 600, exp: now() + 1200 })));
  });

  it('rejects a token without exp or iat', async () => {
    expectUnauthorized(await bearer(app, token(rsa, { exp: undefined })));
    expectUnauthorized(await bearer(app, token(rsa, { iat: undefined })));
  });

  it('rejects the wrong audience', async () => {
    expectUnauthorized(await bearer(app, token(rsa, { aud: 'someone-else' })));
    expectUnauthorized(await bearer(app, token(rsa, { aud: undefined })));
  });

  it('rejects an issuer that is not allow-listed without contacting it', async () => {
    const jwt = signJwt(
      { alg: 'RS256', kid: attackerKey.kid, typ: 'at+jwt' },
      claims({ iss: attacker.issuer }),
      attackerKey.privateKey,
    );
    expectUnauthorized(await bearer(app, jwt));
    expect(attacker.requests).toHaveLength(0);
  });

  it('rejects a tampered payload', async () => {
    const [header, , signature] = token(rsa).split('.');
    const forged = Buffer.from(JSON.stringify(claims({ roles: ['admin'] }))).toString('base64url');
    expectUnauthorized(await bearer(app, `${header}.${forged}.${signature}`));
  });

  it.each(['jku', 'x5u'])('ignores a %s header pointing elsewhere', async (name) => {
    const url = `${attacker.issuer}/jwks`;
    // Signed by the attacker, with the attacker's kid or with a kid the real issuer uses.
    for (const kid of [attackerKey.kid, rsa.kid]) {
      const jwt = signJwt({ alg: 'RS256', kid, typ: 'at+jwt', [name]: url }, claims(), attackerKey.privateKey);
      expectUnauthorized(await bearer(app, jwt));
    }
    // Even a genuinely signed token is refused when it carries a key-source header.
    expectUnauthorized(await bearer(app, token(rsa, {}, { [name]: url })));
    expect(attacker.requests).toHaveLength(0);
  });

  it('rejects an embedded jwk header', async () => {
    const jwt = signJwt(
      { alg: 'RS256', kid: attackerKey.kid, typ: 'at+jwt', jwk: attackerKey.jwk },
      claims(),
      attackerKey.privateKey,
    );
    expectUnauthorized(await bearer(app, jwt));
  });

  it('rejects a token from another issuer that reuses a kid', async () => {
    // kidTwin has the same kid as the first issuer's RSA key but is another key.
    const claimsFirstIssuer = signJwt({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt' }, claims(), kidTwin.privateKey);
    expectUnauthorized(await bearer(app, claimsFirstIssuer));
    const signedByAttacker = signJwt({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt' }, claims(), attackerKey.privateKey);
    expectUnauthorized(await bearer(app, signedByAttacker));
    // The twin issuer's own tokens still verify against its own key.
    const own = signJwt({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt' }, claims({ iss: twinIssuer.issuer }), kidTwin.privateKey);
    expect((await bearer(app, own)).statusCode).toBe(200);
  });

  it('rejects a token without a tenant', async () => {
    expectUnauthorized(await bearer(app, token(rsa, { tenant: undefined })));
    expectUnauthorized(await bearer(app, token(rsa, { tenant: '' })));
  });

  it('rejects malformed roles or scope claims', async () => {
    expectUnauthorized(await bearer(app, token(rsa, { roles: 'admin' })));
    expectUnauthorized(await bearer(app, token(rsa, { scope: ['aoetl:read'] })));
  });

  it('rejects a token that is not an access token (typ)', async () => {
    expectUnauthorized(await bearer(app, token(rsa, {}, { typ: 'JWT' })));
    expectUnauthorized(await bearer(app, token(rsa, {}, { typ: undefined })));
  });

  it('rejects a key whose type does not match the algorithm', async () => {
    // The header claims ES256 but names the RSA key.
    const jwt = signJwt({ alg: 'ES256', kid: rsa.kid, typ: 'at+jwt' }, claims(), ec.privateKey);
    expectUnauthorized(await bearer(app, jwt));
  });
});

describe('unknown kid', () => {
  it('refetches the JWKS once, then rate-limits further unknown kids', async () => {
    // The cooldown is wide enough for a loaded CI machine; every key and token is made before the clock matters.
    const local = await buildApp({ unknownKidCooldownMs: 1500, unknownKidClientCooldownMs: 1500 });
    const stranger = makeKey('RS256');
    const burstTokens = [1, 2, 3, 4, 5].map(() => token(makeKey('ES256')));
    try {
      const start = issuer.jwksFetches();
      expect((await bearer(local, token(rsa))).statusCode).toBe(200);
      expect(issuer.jwksFetches()).toBe(start + 1);

      expectUnauthorized(await bearer(local, token(stranger)));
      expect(issuer.jwksFetches()).toBe(start + 2);

      // A burst of unknown kids during the cooldown causes no fetch.
      const burst = await Promise.all(burstTokens.map((jwt) => bearer(local, jwt)));
      burst.forEach((res) => expectUnauthorized(res));
      expect(issuer.jwksFetches()).toBe(start + 2);
      // Known keys keep working.
      expect((await bearer(local, token(rsa))).statusCode).toBe(200);

      // After the cooldown a rotated-in key is picked up with one fetch.
      await new Promise((resolve) => setTimeout(resolve, 1600));
      issuer.keys.push(stranger);
      expect((await bearer(local, token(stranger))).statusCode).toBe(200);
      expect(issuer.jwksFetches()).toBe(start + 3);
    } finally {
      issuer.keys = issuer.keys.filter((key) => key !== stranger);
      await local.fastify.close();
    }
  }, 20_000);
});

describe('TLS trust', () => {
  it('does not trust an issuer whose certificate is not from the configured CA', async () => {
    const otherCa = makeTestCa();
    const local = await buildApp({ ca: otherCa.caPem });
    try {
      expectUnauthorized(await bearer(local, token(rsa)));
    } finally {
      await local.fastify.close();
    }
  });

  it('requires https issuers', async () => {
    await expect(buildApp({ issuers: ['http://127.0.0.1:1'] })).rejects.toThrow(/https/);
  });
});

describe('registration', () => {
  it('needs the problems plugin, which answers its refusals', async () => {
    const fastify = Fastify({ logger: false });
    await expect(fastify.register(aoetlAuth, { issuers: [issuer.issuer], audience: AUDIENCE, ca: tls.caPem })).rejects.toThrow(/problems/);
    await fastify.close();
  });
});

describe('global: false', () => {
  it('authenticates only routes that use fastify.authenticate', async () => {
    const fastify = Fastify({ logger: false });
    await fastify.register(problems);
    await fastify.register(aoetlAuth, { issuers: [issuer.issuer], audience: AUDIENCE, ca: tls.caPem, global: false });
    fastify.get('/open', (request, reply) => reply.send({ principal: request.principal }));
    fastify.get('/secure', { onRequest: fastify.authenticate }, (request, reply) => reply.send(request.principal));
    fastify.get('/admin', { onRequest: fastify.authenticate, preHandler: requireRole('admin') }, (_request, reply) =>
      reply.send({ ok: true }),
    );
    fastify.get('/role-only', { preHandler: requireRole('admin') }, (_request, reply) => reply.send({ ok: true }));
    const local: TestApp = { fastify, url: await fastify.listen({ host: '127.0.0.1', port: 0 }) };
    try {
      expect((await call(local, 'GET', '/open')).json()).toStrictEqual({ principal: null });
      expectUnauthorized(await call(local, 'GET', '/secure'), false);
      const ok = await call(local, 'GET', '/secure', `Bearer ${token(ec)}`);
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ subject: 'alice', tenant: 'acme' });
      expect((await call(local, 'GET', '/admin', `Bearer ${token(ec)}`)).statusCode).toBe(403);
      expect((await call(local, 'GET', '/admin', `Bearer ${token(ec, { roles: ['admin'] })}`)).statusCode).toBe(200);
      // requireRole without authentication never lets a request through.
      expectUnauthorized(await call(local, 'GET', '/role-only', `Bearer ${token(ec, { roles: ['admin'] })}`), false);
    } finally {
      await fastify.close();
    }
  });
});

describe('requireRole', () => {
  const approve = (jwt: string) => call(app, 'POST', '/approve', `Bearer ${jwt}`);

  it('allows a principal with one of the roles', async () => {
    expect((await approve(token(rsa, { roles: ['approve', 'read'] }))).statusCode).toBe(200);
    expect((await approve(token(rsa, { roles: ['admin'] }))).statusCode).toBe(200);
  });

  it('answers 403 problem+json otherwise', async () => {
    const res = await approve(token(rsa, { roles: ['submit', 'read'] }));
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toStrictEqual({
      type: 'urn:aoetl:problem:not_allowed',
      title: 'not allowed',
      status: 403,
      detail: 'this operation needs one of the roles approve, admin',
    });
    expect((await approve(token(rsa, { roles: undefined }))).statusCode).toBe(403);
  });

  it('answers 401 when the token is invalid', async () => {
    expectUnauthorized(await approve(token(rsa, { aud: 'nope' })));
  });
});
