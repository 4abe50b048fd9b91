/**
 * The JWT attack battery against every route of the real gateway (buildApp + inject, real control database).
 * The app trusts the real local OIDC issuer and, for tokens the real issuer will not mint (expired, another
 * audience, a reused kid…), an in-process test issuer and its "twin" (another allow-listed issuer whose key
 * reuses the test issuer's kid). Every attack gets 401 with a body that says nothing, on every route, and
 * changes nothing; the valid controls prove the issuers are trusted, so each 401 is the attack's doing.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import {
  LocalIssuer,
  REAL_ISSUER,
  ROUTES,
  artifactSql,
  bearer,
  connectionBody,
  createFixture,
  devCa,
  httpsJson,
  makeKey,
  makeTestCa,
  pipelineBody,
  psqlAdmin,
  signHs256,
  signJwt,
  token as realToken,
  unique,
  type Fixture,
  type RouteCase,
  type SigningKey,
} from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(120_000);

const tls = makeTestCa();
const rsa = makeKey('RS256');
const ec = makeKey('ES256');
const issuer = new LocalIssuer(tls, [rsa, ec]);
const twinKey = makeKey('RS256', rsa.kid); // same kid, another key, another (allow-listed) issuer
const twin = new LocalIssuer(tls, [twinKey]);
const attackerKey = makeKey('RS256');
const attacker = new LocalIssuer(tls, [attackerKey]); // not allow-listed

const now = () => Math.floor(Date.now() / 1000);
const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: issuer.issuer,
  sub: 'mallory',
  aud: 'aoetl-api',
  iat: now(),
  exp: now() + 600,
  tenant: 'acme',
  roles: ['admin'], // every permission: were a forged token accepted, the request would succeed
  scope: 'aoetl:admin',
  ...overrides,
});
const sign = (key: SigningKey, overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  signJwt({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }, claims(overrides), key.privateKey);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

let gw: TestGateway;
let fixture: Fixture;
let realRsa: { kid: string; pem: string };
const ATTACK_NAME = unique('gw-attack');


beforeAll(async () => {
  await Promise.all([issuer.start(), twin.start(), attacker.start()]);
  gw = await buildTestGateway({ issuers: [issuer.issuer, twin.issuer], ca: tls.caPem }, { rateLimitPerMinute: 100_000 });
  fixture = await createFixture(gw.call, { submitter: realToken('alice'), admin: realToken('admin') }, (id) => void psqlAdmin('aoetl', artifactSql(id)));

  // The real issuer's RSA signing key, as anyone can fetch it.
  const discovery = (await httpsJson(`${REAL_ISSUER}/.well-known/openid-configuration`, devCa())) as { jwks_uri: string };
  const jwks = (await httpsJson(discovery.jwks_uri, devCa())) as { keys: (JsonWebKey & { kid: string })[] };
  const jwk = jwks.keys.find((k) => k.kty === 'RSA')!;
  realRsa = { kid: jwk.kid, pem: createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString() };
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([issuer.stop(), twin.stop(), attacker.stop()]);
});

const realClaims = (overrides: Record<string, unknown> = {}) => claims({ iss: REAL_ISSUER, ...overrides });

/** name → Authorization header (undefined: none); evaluated per request, after the issuers have started. */
const ATTACKS: [string, () => string | undefined][] = [
  ['missing token', () => undefined],
  ['Basic credentials', () => 'Basic YWxpY2U6c2VjcmV0'],
  ['empty bearer', () => 'Bearer '],
  ['not a JWT', () => 'Bearer not-a-jwt'],
  ['two segments', () => 'Bearer a.b'],
  ['lower-case scheme', () => `bearer ${sign(rsa)}`],
  ['trailing garbage', () => `Bearer ${sign(rsa)} extra`],
  ['garbage segments', () => 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln'],
  ['alg none, no signature', () => `Bearer ${b64({ alg: 'none', kid: rsa.kid, typ: 'at+jwt' })}.${b64(claims())}.`],
  ['alg none, real issuer kid', () => `Bearer ${b64({ alg: 'none', kid: realRsa.kid, typ: 'at+jwt' })}.${b64(realClaims())}.AAAA`],
  ['HS256 with the test issuer RSA public key', () =>
    bearer(signHs256({ alg: 'HS256', kid: rsa.kid, typ: 'at+jwt' }, claims(), rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString()))],
  ['HS256 with the real issuer RSA public key', () =>
    bearer(signHs256({ alg: 'HS256', kid: realRsa.kid, typ: 'at+jwt' }, realClaims(), realRsa.pem))],
  ['expired', () => bearer(sign(rsa, { iat: now() - 1200, exp: now() - 600 }))],
  ['nbf in the future', () => bearer(sign(ec, { nbf: now() + 600 }))],
  ['iat in the future', () => bearer(sign(rsa, { iat: now() + 600, exp: now() + 1200 }))],
  ['wrong audience', () => bearer(sign(rsa, { aud: 'another-api' }))],
  ['no audience', () => bearer(sign(rsa, { aud: undefined }))],
  ['wrong issuer (not allow-listed, its own key)', () =>
    bearer(signJwt({ alg: 'RS256', kid: attackerKey.kid, typ: 'at+jwt' }, claims({ iss: attacker.issuer }), attackerKey.privateKey))],
  ['wrong issuer claim on a trusted key', () => bearer(sign(rsa, { iss: 'https://issuer.example' }))],
  ['unknown kid', () => bearer(sign(makeKey('RS256')))],
  ['tampered payload (test issuer)', () => {
    const [h, , s] = sign(rsa, { roles: ['read'] }).split('.');
    return `Bearer ${h}.${b64(claims())}.${s}`;
  }],
  ['tampered payload (real token, roles raised)', () => {
    const [h, p, s] = realToken('reader').split('.');
    const raised = { ...JSON.parse(Buffer.from(p!, 'base64url').toString()), roles: ['admin'], scope: 'aoetl:admin' };
    return `Bearer ${h}.${b64(raised)}.${s}`;
  }],
  ['tampered payload (real token, other tenant)', () => {
    const [h, p, s] = realToken('carol').split('.');
    return `Bearer ${h}.${b64({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), tenant: 'acme' })}.${s}`;
  }],
  ['jku to the attacker, attacker kid', () =>
    bearer(signJwt({ alg: 'RS256', kid: attackerKey.kid, typ: 'at+jwt', jku: `${attacker.issuer}/jwks` }, claims(), attackerKey.privateKey))],
  ['jku to the attacker, real kid', () =>
    bearer(signJwt({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt', jku: `${attacker.issuer}/jwks` }, claims(), attackerKey.privateKey))],
  ['x5u to the attacker', () =>
    bearer(signJwt({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt', x5u: `${attacker.issuer}/cert.pem` }, claims(), attackerKey.privateKey))],
  ['jku on a genuinely signed token', () => bearer(sign(rsa, {}, { jku: `${attacker.issuer}/jwks` }))],
  ['embedded jwk', () =>
    bearer(signJwt({ alg: 'RS256', kid: attackerKey.kid, typ: 'at+jwt', jwk: attackerKey.jwk }, claims(), attackerKey.privateKey))],
  ['another allow-listed issuer reusing the kid', () =>
    bearer(signJwt({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt' }, claims(), twinKey.privateKey))],
  ['a foreign key reusing the real issuer kid', () =>
    bearer(signJwt({ alg: 'RS256', kid: realRsa.kid, typ: 'at+jwt' }, realClaims(), attackerKey.privateKey))],
  ['not an access token (typ JWT)', () => bearer(sign(rsa, {}, { typ: 'JWT' }))],
  ['no tenant claim', () => bearer(sign(rsa, { tenant: undefined }))],
];

/** Bodies that would leave a trace if an attack were accepted. */
function attackBody(route: RouteCase): unknown {
  if (route.path === '/v1/pipelines' || route.path === '/v1/pipelines/{id}') return pipelineBody(ATTACK_NAME);
  if (route.path === '/v1/connections/{name}') return { ...connectionBody(), port: 1111 };
  return route.body?.(fixture);
}

function request(route: RouteCase, authorization: string | undefined) {
  const body = route.body ? attackBody(route) : undefined;
  return gw.call(route.method, route.url(fixture), {
    ...(authorization === undefined ? {} : { authorization }),
    ...(body === undefined ? {} : { body }),
    ...(route.headers ? { headers: route.headers } : {}),
  });
}

describe('valid tokens reach every route (controls)', () => {
  it('a real token from the local issuer, a test-issuer token and a twin-issuer token are accepted', async () => {
    const route = ROUTES.find((r) => r.method === 'GET' && r.path === '/v1/pipelines/{id}')!;
    expect((await request(route, bearer(realToken('alice')))).status).toBe(200);
    expect((await request(route, bearer(sign(rsa)))).status).toBe(200);
    expect((await request(route, bearer(sign(ec)))).status).toBe(200);
    const twinOwn = signJwt({ alg: 'RS256', kid: rsa.kid, typ: 'at+jwt' }, claims({ iss: twin.issuer }), twinKey.privateKey);
    expect((await request(route, bearer(twinOwn))).status).toBe(200);
  });
});

describe('JWT attack battery on every route', () => {
  let fetchesBefore = 0;
  let cases = 0;
  beforeAll(() => {
    fetchesBefore = issuer.jwksFetches();
  });

  it.each(ATTACKS)('%s: 401 with no detail on every route', async (name, header) => {
    const accepted: string[] = [];
    for (const route of ROUTES) {
      const auth = header();
      const res = await request(route, auth);
      cases += 1;
      const where = `${name} → ${route.method} ${route.path}`;
      if (res.status !== 401) {
        accepted.push(`${where}: ${res.status} ${res.text.slice(0, 200)}`);
        continue;
      }
      expect([where, res.headers['content-type']]).toEqual([where, expect.stringMatching(/^application\/problem\+json/)]);
      expect([where, res.json()]).toEqual([where, { type: 'about:blank', title: 'Unauthorized', status: 401 }]);
      expect([where, res.headers['www-authenticate']]).toEqual([where, auth === undefined ? 'Bearer' : 'Bearer error="invalid_token"']);
    }
    expect(accepted).toEqual([]);
  });

  it('ran every attack on every route, and nothing was written', () => {
    expect(cases).toBe(ATTACKS.length * ROUTES.length);
    // No pipeline created or renamed, the fixture pipeline neither updated nor deleted, no run created, the fixture
    // run neither approved nor cancelled, the connection neither replaced nor deleted.
    expect(psqlAdmin('aoetl', `SELECT count(*) FROM pipelines WHERE name = '${ATTACK_NAME}'`)).toBe('0');
    expect(psqlAdmin('aoetl', `SELECT version || ' ' || (deleted_at IS NULL) FROM pipelines WHERE id = '${fixture.pipelineId}'`)).toBe('1 true');
    expect(psqlAdmin('aoetl', `SELECT count(*) FROM runs WHERE pipeline_id = '${fixture.pipelineId}'`)).toBe('1');
    expect(psqlAdmin('aoetl', `SELECT status FROM runs WHERE id = '${fixture.runId}'`)).toBe('awaiting_approval');
    expect(psqlAdmin('aoetl', `SELECT count(*) FROM approvals WHERE run_id = '${fixture.runId}'`)).toBe('0');
    expect(psqlAdmin('aoetl', `SELECT port FROM connections WHERE name = '${fixture.connection}'`)).toBe('5433');
  });

  it('an unknown kid caused one JWKS refetch; further unknown kids were refused during the cooldown', () => {
    expect(issuer.jwksFetches() - fetchesBefore).toBe(1);
  });

  it('never contacts the attacker\'s server (jku, x5u, non-allow-listed iss)', () => {
    expect(attacker.requests).toEqual([]);
  });
});
