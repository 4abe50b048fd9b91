import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { Agent } from 'undici';

/** Signature algorithms accepted for access tokens: asymmetric only. */
export const SUPPORTED_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type SupportedAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export interface KeyResolverOptions {
  /** Exact issuer identifiers whose discovery document and JWKS may be fetched. */
  issuers: readonly string[];
  /** PEM CA bundle trusted for the HTTPS fetches (replaces the system roots). */
  ca?: string | Buffer;
  /** Path of a PEM CA bundle; read once at start. */
  caFile?: string;
  /**
   * How often every issuer's whole JWKS is fetched again, on a timer that no token can delay or block.
   * Default 5 minutes. A failed refresh keeps the last key set (the next tick tries again).
   */
  cacheTtlMs?: number;
  /** Per issuer, at most one JWKS fetch for unknown kids in this time (all clients together). Default 30 s. */
  unknownKidCooldownMs?: number;
  /** Per client address, at most one JWKS fetch for unknown kids in this time. Default 5 minutes. */
  unknownKidClientCooldownMs?: number;
  /** Connect, headers and body timeout of each fetch. Default 5 s. */
  fetchTimeoutMs?: number;
}

/** Who asks for a key: the client address rate-limits the JWKS fetches its unknown kids may cause. */
export interface KeyLookupContext {
  clientAddress?: string;
}

/** Raised for every key lookup failure; the message is for logs only. */
export class KeyResolutionError extends Error {
  override readonly name = 'KeyResolutionError';
}

const EXPECTED_KEY_TYPE: Record<SupportedAlgorithm, { kty: string; crv?: readonly string[] }> = {
  RS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: ['P-256'] },
  EdDSA: { kty: 'OKP', crv: ['Ed25519', 'Ed448'] },
};
const PUBLIC_MEMBERS = ['kty', 'crv', 'n', 'e', 'x', 'y'] as const;
const MIN_RSA_BITS = 2048;
const MAX_KEYS_PER_ISSUER = 100;
/** Client addresses remembered for the per-client limit (oldest forgotten first). */
const MAX_TRACKED_CLIENTS = 10_000;

export function isSupportedAlgorithm(alg: unknown): alg is SupportedAlgorithm {
  return typeof alg === 'string' && (SUPPORTED_ALGORITHMS as readonly string[]).includes(alg);
}

type Jwk = Record<string, unknown>;

interface IssuerKeys {
  /** Every key of the last successful fetch, by kid. */
  keys: Map<string, Jwk>;
  /** PEM per kid and algorithm, converted once. */
  pems: Map<string, string>;
  /** The fetch in flight, if any (every lookup and the timer share it). */
  inflight?: Promise<void>;
  /** When an unknown kid last caused a fetch. */
  lastUnknownFetch: number;
  /** The first lookup has started the initial fetch. */
  started: boolean;
}

/**
 * Resolves (issuer, alg, kid) to a PEM public key using the issuer's OpenID discovery document and
 * JWKS, fetched over HTTPS that trusts only the given CA.
 *
 * Every fetch caches every key of the JWKS (replacing the previous set). A timer refreshes each issuer's
 * set every `cacheTtlMs`, independently of any token, so known keys are never served from an expired
 * copy and a rotated-in key arrives without a token asking for it. A kid that is not in the set may
 * cause one extra fetch, rate-limited per issuer (`unknownKidCooldownMs`, all clients together) and per
 * client address (`unknownKidClientCooldownMs`); lookups never wait for one another except to share a
 * fetch in flight. A flood of unknown kids therefore costs at most one fetch per cooldown and cannot
 * keep known or newly rotated keys from being served.
 */
export class JwksKeyResolver {
  private readonly issuers: Map<string, IssuerKeys>;
  private readonly dispatcher: Agent;
  private readonly refreshMs: number;
  private readonly cooldownMs: number;
  private readonly clientCooldownMs: number;
  /** Client address → when its unknown kid last caused a fetch (insertion order = age). */
  private readonly clientFetches = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: KeyResolverOptions) {
    if (options.issuers.length === 0) throw new TypeError('at least one issuer is required');
    for (const issuer of options.issuers) {
      if (new URL(issuer).protocol !== 'https:') throw new TypeError(`issuer must be an https URL: ${issuer}`);
    }
    this.issuers = new Map(options.issuers.map((issuer) => [issuer, { keys: new Map(), pems: new Map(), lastUnknownFetch: -Infinity, started: false }]));
    this.refreshMs = options.cacheTtlMs ?? 5 * 60_000;
    this.cooldownMs = options.unknownKidCooldownMs ?? 30_000;
    this.clientCooldownMs = options.unknownKidClientCooldownMs ?? 5 * 60_000;
    if (!(this.refreshMs > 0)) throw new TypeError('cacheTtlMs must be positive');
    const timeout = options.fetchTimeoutMs ?? 5_000;
    const ca = options.ca ?? (options.caFile === undefined ? undefined : readFileSync(options.caFile));
    this.dispatcher = new Agent({
      connect: { ...(ca === undefined ? {} : { ca }), timeout, rejectUnauthorized: true },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      maxResponseSize: 1024 * 1024,
    });
  }

  /** Returns the PEM (SPKI) public key for a token header from an allowed issuer. */
  async publicKeyPem(issuer: string, alg: SupportedAlgorithm, kid: string, context: KeyLookupContext = {}): Promise<string> {
    const state = this.issuers.get(issuer);
    if (state === undefined) throw new KeyResolutionError('issuer not allowed');
    this.startTimer();
    if (!state.started) {
      // First use: the initial fetch (once; afterwards the timer and the rate-limited unknown-kid path fetch).
      state.started = true;
      await this.fetchShared(issuer, state).catch(() => undefined);
    } else if (state.inflight !== undefined && state.keys.size === 0) {
      await state.inflight.catch(() => undefined);
    }
    let jwk = state.keys.get(kid);
    if (jwk === undefined) {
      await this.fetchForUnknownKid(issuer, state, context.clientAddress);
      jwk = state.keys.get(kid);
      if (jwk === undefined) throw new KeyResolutionError('unknown key id (NOT_FOUND)');
    }
    const pemKey = `${kid}\u0000${alg}`;
    let pem = state.pems.get(pemKey);
    if (pem === undefined) state.pems.set(pemKey, (pem = toPem(jwk, alg)));
    return pem;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.dispatcher.close();
  }

  /** Refreshes every issuer's key set now (the timer calls this). Failures keep the previous set. */
  async refresh(): Promise<void> {
    await Promise.all([...this.issuers].map(([issuer, state]) => this.fetchShared(issuer, state).catch(() => undefined)));
  }

  private startTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  private async fetchForUnknownKid(issuer: string, state: IssuerKeys, clientAddress: string | undefined): Promise<void> {
    if (state.inflight !== undefined) return state.inflight.catch(() => undefined);
    const now = Date.now();
    if (now - state.lastUnknownFetch < this.cooldownMs) throw new KeyResolutionError('unknown key id; JWKS refetch is rate-limited');
    if (clientAddress !== undefined) {
      const last = this.clientFetches.get(clientAddress);
      if (last !== undefined && now - last < this.clientCooldownMs) {
        throw new KeyResolutionError('unknown key id; JWKS refetch is rate-limited for this client');
      }
      this.clientFetches.delete(clientAddress);
      this.clientFetches.set(clientAddress, now);
      if (this.clientFetches.size > MAX_TRACKED_CLIENTS) this.clientFetches.delete(this.clientFetches.keys().next().value!);
    }
    state.lastUnknownFetch = now;
    try {
      await this.fetchShared(issuer, state);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new KeyResolutionError(`key lookup failed: ${typeof code === 'string' ? code : String(error)}`, { cause: error });
    }
  }

  /** One fetch per issuer at a time; callers arriving meanwhile share it. */
  private fetchShared(issuer: string, state: IssuerKeys): Promise<void> {
    state.inflight ??= this.fetchKeys(issuer)
      .then((keys) => {
        state.keys = keys;
        state.pems = new Map();
      })
      .finally(() => {
        state.inflight = undefined;
      });
    return state.inflight;
  }

  private async fetchKeys(issuer: string): Promise<Map<string, Jwk>> {
    const discovery = await this.getJson(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    if (discovery.issuer !== undefined && discovery.issuer !== issuer) throw new KeyResolutionError('discovery document names another issuer');
    const jwksUri = discovery.jwks_uri;
    if (typeof jwksUri !== 'string' || new URL(jwksUri).protocol !== 'https:') throw new KeyResolutionError('discovery document has no https jwks_uri');
    const jwks = await this.getJson(jwksUri);
    if (!Array.isArray(jwks.keys)) throw new KeyResolutionError('JWKS has no keys array');
    const keys = new Map<string, Jwk>();
    for (const key of jwks.keys as unknown[]) {
      if (key === null || typeof key !== 'object') continue;
      const kid = (key as Jwk).kid;
      if (typeof kid === 'string' && kid.length > 0 && keys.size < MAX_KEYS_PER_ISSUER) keys.set(kid, key as Jwk);
    }
    return keys;
  }

  private async getJson(url: string): Promise<Record<string, unknown>> {
    const res = await fetch(url, { dispatcher: this.dispatcher, redirect: 'error' });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw Object.assign(new KeyResolutionError(`GET ${url} answered ${res.status}`), { code: `HTTP_${res.status}` });
    }
    const body = (await res.json());
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new KeyResolutionError(`GET ${url} did not answer a JSON object`);
    return body as Record<string, unknown>;
  }
}

/** Converts a JWK to PEM after checking that it is a public signing key fitting the algorithm. */
export function toPem(jwk: Record<string, unknown>, alg: SupportedAlgorithm): string {
  const expected = EXPECTED_KEY_TYPE[alg];
  if (jwk.kty !== expected.kty) throw new KeyResolutionError('key type does not match the algorithm');
  if (expected.crv !== undefined && !expected.crv.includes(String(jwk.crv))) {
    throw new KeyResolutionError('key curve does not match the algorithm');
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new KeyResolutionError('key is not a signing key');
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new KeyResolutionError('key algorithm does not match');

  const publicJwk: Record<string, unknown> = {};
  for (const member of PUBLIC_MEMBERS) if (jwk[member] !== undefined) publicJwk[member] = jwk[member];
  let key;
  try {
    key = createPublicKey({ key: publicJwk as NodeJwk, format: 'jwk' });
  } catch (error) {
    throw new KeyResolutionError('invalid JWK', { cause: error });
  }
  if (alg === 'RS256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new KeyResolutionError('RSA key is too short');
  }
  return key.export({ format: 'pem', type: 'spki' }).toString();
}
