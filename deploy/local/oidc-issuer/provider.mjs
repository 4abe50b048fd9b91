// The configured oidc-provider of the development issuer (server.mjs serves it over HTTPS).
//
// Two ways to get a token for the `aoetl-api` audience (RS256 JWT, claims `roles` and `tenant`):
// - client credentials: each test identity (alice, bob, carol, admin, reader) is a confidential client;
// - device authorization flow (RFC 8628) for people: the public client `aoetl-cli` (the `aoetl login` command)
//   asks for a code, the person opens /device, confirms the code and logs in on /interaction/<uid> as one of the
//   identities with that identity's client secret as the password. The token's scopes are the identity's roles.
// - authorization code + PKCE (S256) for browsers: the public client `aoetl-dashboard` (the monitor's dashboard)
//   sends the person to /auth; they log in on the same form; the monitor exchanges the code for the token.
//   Its redirect URIs: AOETL_DASHBOARD_REDIRECT_URIS (comma-separated), default the local monitor's.
//
// Generated at first start (never committed), under the state dir:
//   oidc/jwks.json                     private signing keys (RS256 + ES256), mode 0600
//   secrets/oidc-client-<name>.secret  client secrets (also the device-flow passwords), mode 0600
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import Provider, { errors } from 'oidc-provider';

// RFC 8707 resource indicators must be absolute URIs, so the API is requested as
// `urn:aoetl-api`; the access token audience is the plain `aoetl-api`.
export const RESOURCE = 'urn:aoetl-api';
export const AUDIENCE = 'aoetl-api';
export const ACCESS_TOKEN_TTL = 600;
/** The public client of `aoetl login` (device authorization flow). */
export const CLI_CLIENT_ID = 'aoetl-cli';
/** The public client of the monitor's dashboard (authorization code + PKCE). */
export const DASHBOARD_CLIENT_ID = 'aoetl-dashboard';
/** The local monitor (services.sh, port 8090) and the two monitors the dashboard e2e test starts (8091, 8092). */
export const DEFAULT_DASHBOARD_REDIRECT_URIS = [8090, 8091, 8092].map((port) => `http://127.0.0.1:${port}/auth/callback`);
/** Clients that act for a person: they may ask for any aoetl scope; the person's grant narrows it to their roles. */
const PERSON_CLIENTS = new Set([CLI_CLIENT_ID, DASHBOARD_CLIENT_ID]);

// identity -> claims. Each role `r` also grants the scope `aoetl:r`.
export const IDENTITIES = {
  alice: { roles: ['submit', 'read'], tenant: 'acme' },
  bob: { roles: ['approve', 'read'], tenant: 'acme' },
  carol: { roles: ['submit', 'read'], tenant: 'globex' },
  admin: { roles: ['admin'], tenant: 'acme' },
  reader: { roles: ['read'], tenant: 'acme' },
  // The platform's site reliability engineer: the monitor's dashboard shows them every tenant. The role grants
  // nothing in the gateway (ROLE_PERMISSIONS does not know it); the tenant claim names no customer tenant.
  sre: { roles: ['sre'], tenant: 'platform' },
};
const ALL_SCOPES = [...new Set(Object.values(IDENTITIES).flatMap((i) => i.roles))].map((role) => `aoetl:${role}`);
export const scopesOf = (identity) => (IDENTITIES[identity]?.roles ?? []).map((role) => `aoetl:${role}`);

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

function loadOrCreateJwks(stateDir) {
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

function loadOrCreateSecret(stateDir, name) {
  const file = join(stateDir, 'secrets', `oidc-client-${name}.secret`);
  if (!existsSync(file)) writePrivate(file, randomBytes(32).toString('base64url'));
  return readFileSync(file, 'utf8').trim();
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;

function sameSecret(given, expected) {
  const a = createHash('sha256').update(String(given)).digest();
  const b = createHash('sha256').update(String(expected)).digest();
  return timingSafeEqual(a, b);
}

/** The provider and an HTTP request handler (the provider plus the login pages of the device flow). */
export function createIssuer({ issuer, stateDir, dashboardRedirectUris = DEFAULT_DASHBOARD_REDIRECT_URIS }) {
  const secrets = Object.fromEntries(Object.keys(IDENTITIES).map((name) => [name, loadOrCreateSecret(stateDir, name)]));
  const clients = [
    ...Object.keys(IDENTITIES).map((clientId) => ({
      client_id: clientId,
      client_secret: secrets[clientId],
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    {
      client_id: CLI_CLIENT_ID,
      application_type: 'native',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'none',
    },
    {
      client_id: DASHBOARD_CLIENT_ID,
      application_type: 'web',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [...dashboardRedirectUris],
      token_endpoint_auth_method: 'none',
    },
  ];

  const configuration = {
    clients,
    jwks: loadOrCreateJwks(stateDir),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access'],
    // Every authorization code request needs PKCE with S256 (the default methods), whatever the client.
    pkce: { required: () => true },
    async findAccount(_ctx, sub) {
      if (!IDENTITIES[sub]) return undefined;
      return { accountId: sub, claims: async () => ({ sub }) };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        async userCodeInputSource(ctx, form, _out, err) {
          ctx.body = page('aoetl: sign in a device', `${err ? `<p>The code was not accepted (${escapeHtml(err.message)}).</p>` : ''}<p>Enter the code the aoetl CLI shows.</p>${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
          ctx.body = page('aoetl: confirm the code', `<p>${escapeHtml(client.clientId)} asks to act as you. Code: <code>${escapeHtml(userCode)}</code></p>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button>`);
        },
        async successSource(ctx) {
          ctx.body = page('aoetl: signed in', '<p>You can close this window and return to the terminal.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resourceIndicator, client) {
          if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
          // The CLI and the dashboard may ask for any aoetl scope; the grant (made at login) narrows them to the person's roles.
          const scope = PERSON_CLIENTS.has(client.clientId) ? ALL_SCOPES : scopesOf(client.clientId);
          return {
            audience: AUDIENCE,
            scope: scope.join(' '),
            accessTokenTTL: ACCESS_TOKEN_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: { IdToken: 3600, ClientCredentials: ACCESS_TOKEN_TTL, AccessToken: ACCESS_TOKEN_TTL, DeviceCode: 600, RefreshToken: 8 * 3600, Grant: 8 * 3600, Session: 8 * 3600, Interaction: 600 },
    extraTokenClaims(_ctx, token) {
      const identity = IDENTITIES[token.accountId ?? token.clientId];
      if (!identity) return undefined;
      return { roles: [...identity.roles], tenant: identity.tenant };
    },
  };

  const provider = new Provider(issuer, configuration);

  /** A grant of the identity's role scopes; other requested aoetl scopes are rejected (so consent does not loop). */
  async function grantFor(accountId, details) {
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope('openid offline_access');
    const allowed = new Set(scopesOf(accountId));
    const requested = String(details.params.scope ?? '').split(' ').filter((s) => s.startsWith('aoetl:'));
    grant.addResourceScope(RESOURCE, [...allowed].join(' '));
    const refused = requested.filter((s) => !allowed.has(s));
    if (refused.length) grant.rejectResourceScope(RESOURCE, refused.join(' '));
    return grant.save();
  }

  async function readForm(req) {
    let body = '';
    for await (const chunk of req) {
      body += chunk;
      if (body.length > 10_000) throw new Error('form too large');
    }
    return new URLSearchParams(body);
  }

  function sendHtml(res, status, html) {
    res.statusCode = status;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.end(html);
  }

  const loginPage = (uid, message) =>
    page(
      'aoetl: log in',
      `${message ? `<p role="alert">${escapeHtml(message)}</p>` : ''}<form method="post" action="/interaction/${escapeHtml(uid)}/login">` +
        '<p><label for="username">Identity</label> <input id="username" name="username" placeholder="alice, bob, admin, sre…" autocomplete="username" required></p>' +
        '<p><label for="password">Password</label> <input id="password" name="password" type="password" placeholder="the identity\'s client secret" autocomplete="current-password" required></p>' +
        '<button type="submit">Log in</button></form>',
    );

  async function interaction(req, res, action) {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      if (action !== 'login' || req.method !== 'POST') return sendHtml(res, 200, loginPage(details.uid));
      const form = await readForm(req);
      const user = form.get('username') ?? '';
      if (!Object.hasOwn(IDENTITIES, user) || !sameSecret(form.get('password') ?? '', secrets[user])) {
        return sendHtml(res, 401, loginPage(details.uid, 'Wrong identity or password.'));
      }
      const grantId = await grantFor(user, details);
      return provider.interactionFinished(req, res, { login: { accountId: user }, consent: { grantId } }, { mergeWithLastSubmission: false });
    }
    if (details.prompt.name === 'consent') {
      const grantId = await grantFor(details.session.accountId, details);
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return sendHtml(res, 400, page('aoetl: unexpected prompt', `<p>${escapeHtml(details.prompt.name)}</p>`));
  }

  const callback = provider.callback();
  const handler = (req, res) => {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(new URL(req.url, 'http://issuer').pathname);
    if (!match) return callback(req, res);
    interaction(req, res, match[2]).catch((err) => sendHtml(res, 400, page('aoetl: log in failed', `<p>${escapeHtml(err.message)}</p>`)));
    return undefined;
  };
  return { provider, handler };
}
