// Development OpenID Connect issuer for local aoetl stacks.
//
// panva's oidc-provider served over HTTPS with the dev CA's server certificate.
// Test identities are confidential clients using the client_credentials grant;
// their access tokens are RS256-signed JWTs for the `aoetl-api` audience.
//
// Generated at first start (never committed), under $AOETL_STATE_DIR (default <repo>/.state):
//   oidc/jwks.json                     private signing keys (RS256 + ES256), mode 0600
//   secrets/oidc-client-<name>.secret  client secrets, mode 0600
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider, { errors } from 'oidc-provider';

const here = dirname(fileURLToPath(import.meta.url));
const stateDir = resolve(process.env.AOETL_STATE_DIR || join(here, '..', '..', '..', '.state'));
const host = process.env.AOETL_OIDC_HOST || '127.0.0.1';
const port = Number(process.env.AOETL_OIDC_PORT || 9400);
const issuer = process.env.AOETL_OIDC_ISSUER || `https://${host}:${port}`;
const tlsCert = process.env.AOETL_OIDC_TLS_CERT || join(stateDir, 'certs', 'oidc.crt');
const tlsKey = process.env.AOETL_OIDC_TLS_KEY || join(stateDir, 'certs', 'oidc.key');

// RFC 8707 resource indicators must be absolute URIs, so the API is requested as
// `urn:aoetl-api`; the access token audience is the plain `aoetl-api`.
const RESOURCE = 'urn:aoetl-api';
const AUDIENCE = 'aoetl-api';
const ACCESS_TOKEN_TTL = 600;

// client id -> claims. Each role `r` also grants the scope `aoetl:r`.
const IDENTITIES = {
  alice: { roles: ['submit', 'read'], tenant: 'acme' },
  bob: { roles: ['approve', 'read'], tenant: 'acme' },
  carol: { roles: ['submit', 'read'], tenant: 'globex' },
  admin: { roles: ['admin'], tenant: 'acme' },
  reader: { roles: ['read'], tenant: 'acme' },
};
const scopesOf = (clientId) => (IDENTITIES[clientId]?.roles ?? []).map((role) => `aoetl:${role}`);

function writePrivate(file, content) {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

// RFC 7638 JWK thumbprint, used as the key id.
function thumbprint(jwk) {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: thumbprint(jwk), use: 'sig', alg };
}

function loadOrCreateJwks() {
  const file = join(stateDir, 'oidc', 'jwks.json');
  if (!existsSync(file)) {
    const keys = [
      signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
      signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
    ];
    writePrivate(file, `${JSON.stringify({ keys }, null, 2)}\n`);
  }
  chmodSync(file, 0o600);
  return JSON.parse(readFileSync(file, 'utf8'));
}

function loadOrCreateSecret(name) {
  const file = join(stateDir, 'secrets', `oidc-client-${name}.secret`);
  if (!existsSync(file)) writePrivate(file, randomBytes(32).toString('base64url'));
  return readFileSync(file, 'utf8').trim();
}

const clients = Object.keys(IDENTITIES).map((clientId) => ({
  client_id: clientId,
  client_secret: loadOrCreateSecret(clientId),
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
}));

const configuration = {
  clients,
  jwks: loadOrCreateJwks(),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resourceIndicator, client) {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          audience: AUDIENCE,
          scope: scopesOf(client.clientId).join(' '),
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: ACCESS_TOKEN_TTL },
  extraTokenClaims(_ctx, token) {
    const identity = IDENTITIES[token.clientId];
    if (!identity) return undefined;
    return { roles: [...identity.roles], tenant: identity.tenant };
  },
};

const provider = new Provider(issuer, configuration);
for (const event of ['server_error', 'grant.error']) {
  provider.on(event, (_ctx, error) => {
    console.error(`${new Date().toISOString()} ${event}: ${error.name}: ${error.message}`);
  });
}
provider.on('grant.success', (ctx) => {
  console.log(`${new Date().toISOString()} token issued to ${ctx.oidc.client?.clientId}`);
});

const server = createServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey) }, provider.callback());
server.listen(port, host, () => {
  console.log(`${new Date().toISOString()} oidc issuer ${issuer} listening on https://${host}:${port} (state ${stateDir})`);
});

function shutdown(signal) {
  console.log(`${new Date().toISOString()} ${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
