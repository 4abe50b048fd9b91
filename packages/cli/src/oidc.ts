import { CliError, EXIT } from './errors';
import { send, unreachable } from './http';

export interface Discovery {
  issuer: string;
  token_endpoint: string;
  device_authorization_endpoint?: string;
}

export interface TokenResponse {
  access_token: string;
  expires_in?: number;
  refresh_token?: string;
  token_type?: string;
  scope?: string;
}

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

export async function discover(issuer: string): Promise<Discovery> {
  const url = `${issuer}/.well-known/openid-configuration`;
  const res = await send(url, { headers: { accept: 'application/json' } }, 'OIDC discovery');
  if (!res.ok) throw new CliError(`OIDC discovery: ${url} answered HTTP ${res.status}`, EXIT.auth);
  const doc = (await res.json()) as Discovery;
  if (!doc.token_endpoint) throw new CliError(`OIDC discovery: ${url} names no token_endpoint`, EXIT.auth);
  return doc;
}

interface OAuthError {
  error?: string;
  error_description?: string;
}

async function tokenRequest(endpoint: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: TokenResponse & OAuthError }> {
  const res = await send(
    endpoint,
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers }, body: new URLSearchParams(form) },
    'token request',
  );
  const body = (await res.json().catch(() => ({}))) as TokenResponse & OAuthError;
  return { status: res.status, body };
}

function oauthFailure(what: string, body: OAuthError, status: number): CliError {
  const why = body.error_description ? `${body.error ?? 'error'}: ${body.error_description}` : (body.error ?? `HTTP ${status}`);
  return new CliError(`${what}: ${why}`, EXIT.auth);
}

/** RFC 6749 §4.4, client authenticated with HTTP Basic (the secret never appears in argv). */
export async function clientCredentials(
  discovery: Discovery,
  client: { id: string; secret: string },
  request: { scope: string; resource: string },
): Promise<TokenResponse> {
  const basic = Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64');
  const { status, body } = await tokenRequest(
    discovery.token_endpoint,
    { grant_type: 'client_credentials', scope: request.scope, resource: request.resource },
    { authorization: `Basic ${basic}` },
  );
  if (status !== 200 || !body.access_token) throw oauthFailure(`login as ${client.id} failed`, body, status);
  return body;
}

export async function refresh(discovery: Discovery, clientId: string, refreshToken: string, resource: string): Promise<TokenResponse> {
  const { status, body } = await tokenRequest(discovery.token_endpoint, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: clientId,
    resource,
  });
  if (status !== 200 || !body.access_token) throw oauthFailure('token refresh failed (run: aoetl login)', body, status);
  return body;
}

/** RFC 8628: asks for a device code; the caller shows the user code and then polls. */
export async function startDeviceAuthorization(discovery: Discovery, clientId: string, request: { scope: string; resource: string }): Promise<DeviceAuthorization> {
  const endpoint = discovery.device_authorization_endpoint;
  if (!endpoint) throw new CliError(`the issuer ${discovery.issuer} does not offer the device authorization flow; use: aoetl login --client-credentials`, EXIT.auth);
  const res = await send(
    endpoint,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ client_id: clientId, scope: `openid offline_access ${request.scope}`, resource: request.resource }),
    },
    'device authorization',
  );
  const body = (await res.json().catch(() => ({}))) as DeviceAuthorization & OAuthError;
  if (res.status !== 200 || !body.device_code) throw oauthFailure('device authorization failed', body, res.status);
  return body;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the token endpoint until the user approves, denies, or the code expires (RFC 8628 §3.4, §3.5). */
export async function pollDeviceToken(discovery: Discovery, clientId: string, auth: DeviceAuthorization, resource: string, now = Date.now): Promise<TokenResponse> {
  let interval = (auth.interval ?? 5) * 1000;
  const deadline = now() + auth.expires_in * 1000;
  for (;;) {
    await sleep(interval);
    if (now() > deadline) throw new CliError('the device code expired before it was approved; run aoetl login again', EXIT.auth);
    let result;
    try {
      result = await tokenRequest(discovery.token_endpoint, {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: auth.device_code,
        client_id: clientId,
        resource,
      });
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw unreachable(discovery.token_endpoint, 'token request', err);
    }
    const { status, body } = result;
    if (status === 200 && body.access_token) return body;
    if (body.error === 'authorization_pending') continue;
    if (body.error === 'slow_down') {
      interval += 5000;
      continue;
    }
    throw oauthFailure('device login failed', body, status);
  }
}
