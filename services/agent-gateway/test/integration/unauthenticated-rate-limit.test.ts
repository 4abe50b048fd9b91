// Issue 13, finding 2: unauthenticated requests are rate-limited per client address before any token is verified.
import { randomBytes } from 'node:crypto';
import { REAL_ISSUER, bearer, token as realToken } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
/** A token of the real issuer with a kid nobody knows (what the key-refresh flood sends). */
const unknownKidToken = () =>
  `${b64({ alg: 'ES256', kid: randomBytes(12).toString('base64url'), typ: 'at+jwt' })}.${b64({
    iss: REAL_ISSUER, sub: 'mallory', aud: 'aoetl-api', iat: now(), exp: now() + 600, tenant: 'acme', roles: ['admin'],
  })}.${randomBytes(64).toString('base64url')}`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await buildTestGateway({}, { rateLimitPerMinute: 3 });
});
afterAll(() => gw.close());

it('answers 429 with Retry-After, before verification, once an address has had its 401s for the minute', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 3; i += 1) statuses.push((await gw.call('GET', '/v1/connections', { authorization: `Bearer ${unknownKidToken()}` })).status);
  expect(statuses).toEqual([401, 401, 401]);
  const limited = await gw.call('GET', '/v1/connections', { authorization: `Bearer ${unknownKidToken()}` });
  expect(limited.status).toBe(429);
  expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(limited.json()).toMatchObject({ status: 429 });
  // Before verification: even a valid token from that address waits for the window.
  expect((await gw.call('GET', '/v1/connections', { authorization: bearer(realToken('reader')) })).status).toBe(429);
  // Another address is not affected.
  const other = await gw.app.inject({ method: 'GET', url: '/v1/connections', remoteAddress: '192.0.2.7', headers: { authorization: bearer(realToken('reader')) } });
  expect(other.statusCode).toBe(200);
});
