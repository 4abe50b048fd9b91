/**
 * The JWT attacks that need no private key of the real issuer, against every route of the running gateway
 * (which trusts only the local OIDC issuer). The full battery, with tokens the real issuer will not mint
 * (expired, nbf, other audience, a kid reused by another trusted issuer), runs on the same routes in-process:
 * services/agent-gateway/test/integration/gateway-auth.test.ts.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import {
  LocalIssuer,
  REAL_ISSUER,
  ROUTES,
  bearer,
  connectionBody,
  devCa,
  httpsJson,
  liveClient,
  makeKey,
  makeTestCa,
  pipelineBody,
  psqlAdmin,
  signHs256,
  signJwt,
  token as realToken,
  unique,
  type RouteCase,
} from '@aoetl/testing';

jest.setTimeout(120_000);

const attackerKey = makeKey('RS256');
const attacker = new LocalIssuer(makeTestCa(), [attackerKey]);
const call = liveClient();
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
let real: { kid: string; pem: string };
const NAME = unique('gw-e2e-attack');

const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: REAL_ISSUER, sub: 'mallory', aud: 'aoetl-api', iat: now(), exp: now() + 600, tenant: 'acme', roles: ['admin'], scope: 'aoetl:admin', ...overrides,
});
const forge = (header: Record<string, unknown>, overrides: Record<string, unknown> = {}) =>
  bearer(signJwt({ alg: 'RS256', typ: 'at+jwt', ...header }, claims(overrides), attackerKey.privateKey));
const tamper = (identity: string, change: Record<string, unknown>) => {
  const [h, p, s] = realToken(identity).split('.');
  return `Bearer ${h}.${b64({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), ...change })}.${s}`;
};

const ATTACKS: [string, () => string | undefined][] = [
  ['missing token', () => undefined],
  ['malformed header', () => 'Bearer a.b'],
  ['not a bearer token', () => 'Basic YWxpY2U6c2VjcmV0'],
  ['alg none', () => `Bearer ${b64({ alg: 'none', kid: real.kid, typ: 'at+jwt' })}.${b64(claims())}.`],
  ['HS256 signed with the issuer RSA public key', () => bearer(signHs256({ alg: 'HS256', kid: real.kid, typ: 'at+jwt' }, claims(), real.pem))],
  ['tampered payload: roles raised', () => tamper('reader', { roles: ['admin'], scope: 'aoetl:admin' })],
  ['tampered payload: tenant changed', () => tamper('carol', { tenant: 'acme' })],
  ['tampered payload: expiry extended', () => tamper('alice', { exp: now() + 86_400 })],
  ['wrong issuer', () => forge({ kid: attackerKey.kid }, { iss: attacker.issuer })],
  ['unknown kid', () => forge({ kid: attackerKey.kid })],
  ['jku pointing elsewhere', () => forge({ kid: real.kid, jku: `${attacker.issuer}/jwks` })],
  ['x5u pointing elsewhere', () => forge({ kid: real.kid, x5u: `${attacker.issuer}/cert.pem` })],
  ['another key reusing the issuer kid', () => forge({ kid: real.kid })],
];

beforeAll(async () => {
  await attacker.start();
  const discovery = (await httpsJson(`${REAL_ISSUER}/.well-known/openid-configuration`, devCa())) as { jwks_uri: string };
  const jwks = (await httpsJson(discovery.jwks_uri, devCa())) as { keys: (JsonWebKey & { kid: string })[] };
  const jwk = jwks.keys.find((k) => k.kty === 'RSA')!;
  real = { kid: jwk.kid, pem: createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString() };
});
afterAll(() => attacker.stop());

/** A URL and body per route; ids need not exist: an accepted token would get 404 or 400, never 401. */
const ID = '00000000-0000-4000-8000-000000000000';
const fixture = { pipelineId: ID, runId: ID, connection: 'crm-source' };
function body(route: RouteCase): unknown {
  if (route.path.startsWith('/v1/pipelines') && route.body) return pipelineBody(NAME);
  if (route.path === '/v1/connections/{name}') return { ...connectionBody(), port: 1111 };
  return route.body?.(fixture);
}

it('a real token is accepted (control)', async () => {
  expect((await call('GET', '/v1/pipelines?limit=1', { authorization: bearer(realToken('reader')) })).status).toBe(200);
});

it.each(ATTACKS)('%s: 401 with no detail on every route', async (_name, header) => {
  for (const route of ROUTES) {
    const auth = header();
    const b = route.body ? body(route) : undefined;
    const res = await call(route.method, route.url(fixture), {
      ...(auth === undefined ? {} : { authorization: auth }),
      ...(b === undefined ? {} : { body: b }),
      ...(route.headers ? { headers: route.headers } : {}),
    });
    const where = `${route.method} ${route.path}`;
    expect([where, res.status, res.json()]).toEqual([where, 401, { type: 'about:blank', title: 'Unauthorized', status: 401 }]);
    expect([where, res.headers['www-authenticate']]).toEqual([where, auth === undefined ? 'Bearer' : 'Bearer error="invalid_token"']);
  }
});

it('changed nothing and never contacted the attacker', async () => {
  const list = await call('GET', '/v1/connections/crm-source', { authorization: bearer(realToken('reader')) });
  expect(list.json().port).toBe(5433);
  expect(psqlAdmin('aoetl', `SELECT count(*) FROM pipelines WHERE name = '${NAME}'`)).toBe('0');
  expect(attacker.requests).toEqual([]);
});
