/**
 * The authorization matrix in-process (buildApp + inject, real database): every identity of the local OIDC
 * issuer plus two minted by a test issuer for tenant globex (an admin and an approver, so that the approve- and
 * admin-only routes are tried across tenants too) × every route. test/e2e/gateway-matrix.test.ts runs the same
 * matrix against the running gateway.
 */
import {
  IDENTITIES,
  LocalIssuer,
  artifactSql,
  describeAuthorizationMatrix,
  makeKey,
  makeTestCa,
  psqlAdmin,
  signJwt,
  token as realToken,
  type MatrixIdentity,
} from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(120_000);

const tls = makeTestCa();
const key = makeKey('ES256');
const issuer = new LocalIssuer(tls, [key]);
const minted = (sub: string, roles: string[]) => () => {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    { alg: 'ES256', kid: key.kid, typ: 'at+jwt' },
    { iss: issuer.issuer, sub, aud: 'aoetl-api', iat: now, exp: now + 600, tenant: 'globex', roles },
    key.privateKey,
  );
};

let gw: TestGateway;
beforeAll(async () => {
  await issuer.start();
  gw = await buildTestGateway({ issuers: [issuer.issuer], ca: tls.caPem }, { rateLimitPerMinute: 100_000 });
});
afterAll(async () => {
  await gw?.close();
  await issuer.stop();
});

const identities: MatrixIdentity[] = [
  ...Object.entries(IDENTITIES).map(([name, i]) => ({ name, ...i, token: () => realToken(name) })),
  { name: 'globex-admin', tenant: 'globex', permissions: ['read', 'submit', 'approve', 'admin'], token: minted('gadmin', ['admin']) },
  { name: 'globex-approver', tenant: 'globex', permissions: ['read', 'approve'], token: minted('gapprover', ['approve']) },
];

describe('authorization matrix (in-process)', () => {
  describeAuthorizationMatrix({
    client: () => gw.call,
    identities,
    submitter: () => realToken('alice'),
    admin: () => realToken('admin'),
    submitterName: 'alice',
    addArtifacts: (id) => void psqlAdmin('aoetl', artifactSql(id)),
  });
});
