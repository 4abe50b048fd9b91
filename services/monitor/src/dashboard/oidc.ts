import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { Agent, fetch } from 'undici';
import { principalFromClaims, SUPPORTED_ALGORITHMS, type Principal } from '@aoetl/auth';
import { UnauthorizedError, UpstreamError } from '@aoetl/contracts';

export interface OidcLoginOptions {
  issuer: string;
  /** The API audience the access token must carry (the same as the gateway's). */
  audience: string;
  clientId: string;
  /** RFC 8707 resource to ask the token for (the local issuer names the API `urn:aoetl-api`). */
  resource?: string;
  caFile?: string;
  /** Scopes asked for; the person's grant narrows them to their roles. */
  scope?: string;
  timeoutMs?: number;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

/** The issuer could not be reached or answered something unusable (discovery, JWKS, token endpoint). */
export class IssuerError extends UpstreamError {}

const DEFAULT_SCOPE = 'openid aoetl:read aoetl:submit aoetl:approve aoetl:admin aoetl:sre';

/**
 * The dashboard's side of the authorization code flow with PKCE (a public client: the code verifier, not a client
 * secret, proves the exchange). The access token it gets is verified like the gateway verifies bearer tokens
 * (issuer allow-list, audience, asymmetric algorithms, `at+jwt`) and becomes the session's principal; the token
 * itself is not kept.
 */
export class OidcLogin {
  private readonly dispatcher: Agent;
  private discovery: Promise<Discovery> | undefined;

  constructor(private readonly opts: OidcLoginOptions) {
    const ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
    const timeout = opts.timeoutMs ?? 5000;
    this.dispatcher = new Agent({ connect: { ...(ca ? { ca } : {}), timeout }, headersTimeout: timeout, bodyTimeout: timeout });
  }

  /** Where to send the browser: the issuer's authorization endpoint with state and the S256 challenge. */
  async authorizationUrl(input: { redirectUri: string; state: string; challenge: string }): Promise<string> {
    const d = await this.discover();
    const url = new URL(d.authorization_endpoint);
    const params: Record<string, string> = {
      client_id: this.opts.clientId,
      response_type: 'code',
      redirect_uri: input.redirectUri,
      scope: this.opts.scope ?? DEFAULT_SCOPE,
      state: input.state,
      code_challenge: input.challenge,
      code_challenge_method: 'S256',
      ...(this.opts.resource ? { resource: this.opts.resource } : {}),
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url.toString();
  }

  /** Exchanges the code (with its verifier) and returns the verified principal; UnauthorizedError when refused. */
  async principalFromCode(input: { code: string; verifier: string; redirectUri: string }): Promise<Principal> {
    const d = await this.discover();
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: input.redirectUri,
      client_id: this.opts.clientId,
      code_verifier: input.verifier,
      ...(this.opts.resource ? { resource: this.opts.resource } : {}),
    });
    const res = await this.fetch(d.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const json = (await res.json().catch(() => ({}))) as { access_token?: unknown; error?: unknown };
    if (res.status === 400 || res.status === 401) throw new UnauthorizedError(`the issuer refused the code: ${typeof json.error === 'string' ? json.error : res.status}`);
    if (!res.ok || typeof json.access_token !== 'string') throw new IssuerError(`token endpoint answered ${res.status}`);
    return this.verify(json.access_token, d);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async verify(token: string, d: Discovery): Promise<Principal> {
    const jwks = await this.json<JSONWebKeySet>(d.jwks_uri);
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        algorithms: [...SUPPORTED_ALGORITHMS],
        typ: 'at+jwt',
        clockTolerance: 30,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      });
      return principalFromClaims(payload);
    } catch (err) {
      throw new UnauthorizedError('the access token from the issuer did not verify', { cause: err });
    }
  }

  private discover(): Promise<Discovery> {
    this.discovery ??= this.json<Discovery>(`${this.opts.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`).then((d) => {
      if (d.issuer !== this.opts.issuer || !d.authorization_endpoint || !d.token_endpoint || !d.jwks_uri) {
        throw new IssuerError(`the discovery document of ${this.opts.issuer} is unusable (issuer ${String(d.issuer)})`);
      }
      return d;
    });
    // A failed discovery is tried again at the next login.
    this.discovery.catch(() => (this.discovery = undefined));
    return this.discovery;
  }

  private async json<T>(url: string): Promise<T> {
    const res = await this.fetch(url, {});
    if (!res.ok) throw new IssuerError(`${url} answered ${res.status}`);
    return (await res.json()) as T;
  }

  private async fetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: URLSearchParams }) {
    try {
      return await fetch(url, { ...init, dispatcher: this.dispatcher, redirect: 'error' });
    } catch (err) {
      throw new IssuerError(`the issuer is unreachable (${url}): ${(err as Error).message}`, { cause: err });
    }
  }
}
