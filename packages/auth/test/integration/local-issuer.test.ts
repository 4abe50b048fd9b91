// Needs the local OIDC issuer: deploy/local/oidc-issuer.sh start (part of the local stack).
// Gets real access tokens with the client_credentials grant and verifies them against the
// issuer's real discovery document and JWKS, trusting only the dev CA.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REAL_ISSUER, STATE } from '@aoetl/testing';

import Fastify, { type FastifyInstance } from 'fastify';
import { problems } from '@aoetl/http';
import { Agent } from 'undici';

import { aoetlAuth, requireRole } from '../../src/index.js';

const stateDir = STATE;
const issuer = REAL_ISSUER;
const caFile = process.env.AOETL_OIDC_CA_FILE ?? join(stateDir, 'certs', 'ca.crt');
const audience = process.env.AOETL_OIDC_AUDIENCE ?? 'aoetl-api';
const RESOURCE = 'urn:aoetl-api';

const dispatcher = new Agent({ connect: { ca: readFileSync(caFile) } });

async function clientCredentialsToken(identity: string, scope?: string): Promise<string> {
  const secret = readFileSync(join(stateDir, 'secrets', `oidc-client-${identity}.secret`), 'utf8').trim();
  const body = new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE });
  if (scope !== undefined) body.set('scope', scope);
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${identity}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
    dispatcher,
  });
  const json = (await res.json()) as { access_token?: string; token_type?: string; expires_in?: number };
  expect(res.status).toBe(200);
  expect(json.token_type).toBe('Bearer');
  expect(json.expires_in).toBeLessThanOrEqual(600);
  return json.access_token!;
}

let app: FastifyInstance;
let url: string;

async function call(path: string, jwt: string, method = 'GET') {
  const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${jwt}` } });
  // Parsed here, not with res.json(), so objects belong to the test realm (toStrictEqual).
  return { status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown> };
}

beforeAll(async () => {
  const discovery = await fetch(`${issuer}/.well-known/openid-configuration`, { dispatcher }).catch(() => undefined);
  if (discovery?.status !== 200) {
    throw new Error(`local OIDC issuer not reachable at ${issuer}; run deploy/local/oidc-issuer.sh start`);
  }
  app = Fastify({ logger: false });
  await app.register(problems);
  await app.register(aoetlAuth, { issuers: [issuer], audience, caFile });
  app.get('/me', (request, reply) => reply.send(request.principal));
  app.post('/approve', { preHandler: requireRole('approve') }, (_request, reply) => reply.send({ approved: true }));
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await dispatcher.close();
});

describe('tokens from the local OIDC issuer', () => {
  it('verifies alice and exposes her principal', async () => {
    const jwt = await clientCredentialsToken('alice', 'aoetl:read aoetl:submit aoetl:approve aoetl:admin');
    const header = JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });

    const res = await call('/me', jwt);
    expect(res.status).toBe(200);
    expect(res.body).toStrictEqual({
      issuer,
      subject: 'alice',
      id: `${issuer}|alice`,
      tenant: 'acme',
      roles: ['submit', 'read'],
      scopes: ['aoetl:read', 'aoetl:submit'],
    });
  });

  it('carries each identity tenant and roles', async () => {
    const carol = await call('/me', await clientCredentialsToken('carol'));
    expect(carol.body).toMatchObject({ subject: 'carol', tenant: 'globex', roles: ['submit', 'read'] });
    const admin = await call('/me', await clientCredentialsToken('admin'));
    expect(admin.body).toMatchObject({ subject: 'admin', tenant: 'acme', roles: ['admin'] });
  });

  it('enforces roles with requireRole', async () => {
    expect((await call('/approve', await clientCredentialsToken('bob'), 'POST')).status).toBe(200);
    expect((await call('/approve', await clientCredentialsToken('reader'), 'POST')).status).toBe(403);
  });

  it('rejects a real token whose payload was altered', async () => {
    const [header, payload, signature] = (await clientCredentialsToken('reader')).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url');
    const res = await call('/me', `${header}.${forged}.${signature}`);
    expect(res.status).toBe(401);
    expect(res.body).toStrictEqual({ type: 'about:blank', title: 'Unauthorized', status: 401 });
  });

  it('rejects a real token when another audience is expected', async () => {
    const other = Fastify({ logger: false });
    await other.register(problems);
    await other.register(aoetlAuth, { issuers: [issuer], audience: 'another-api', caFile });
    other.get('/me', (request, reply) => reply.send(request.principal));
    const otherUrl = await other.listen({ host: '127.0.0.1', port: 0 });
    try {
      const jwt = await clientCredentialsToken('alice');
      const res = await fetch(`${otherUrl}/me`, { headers: { authorization: `Bearer ${jwt}` } });
      expect(res.status).toBe(401);
    } finally {
      await other.close();
    }
  });
});
