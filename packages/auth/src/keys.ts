import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import { readFileSync } from 'node:fs';

import buildGetJwks from 'get-jwks';
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
  /** How long fetched keys stay cached. Default 5 minutes. */
  cacheTtlMs?: number;
  /** After a lookup that found no key, further unknown-kid fetches for that issuer wait this long. Default 30 s. */
  unknownKidCooldownMs?: number;
  /** Connect, headers and body timeout of each fetch. Default 5 s. */
  fetchTimeoutMs?: number;
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

export function isSupportedAlgorithm(alg: unknown): alg is SupportedAlgorithm {
  return typeof alg === 'string' && (SUPPORTED_ALGORITHMS as readonly string[]).includes(alg);
}

/** get-jwks keys its cache by the issuer with a trailing slash. */
function normalizeDomain(issuer: string): string {
  return issuer.endsWith('/') ? issuer : `${issuer}/`;
}

/**
 * Resolves (issuer, alg, kid) to a PEM public key using the issuer's OpenID discovery
 * document and JWKS, fetched with get-jwks over HTTPS that trusts only the given CA.
 *
 * Keys are cached. A kid that is not cached triggers one JWKS fetch; lookups for one issuer
 * are serialized, and after a lookup that found nothing further unknown kids for that issuer
 * are rejected without fetching until the cooldown has passed (keys seen before are still
 * served from the stale cache meanwhile).
 */
export class JwksKeyResolver {
  private readonly issuers: Set<string>;
  private readonly dispatcher: Agent;
  private readonly jwks: buildGetJwks.GetJwks;
  private readonly cooldownMs: number;
  private readonly blockedUntil = new Map<string, number>();
  private readonly queue = new Map<string, Promise<unknown>>();
  /** PEMs already converted, per JWK object get-jwks handed out (its cache returns the same object). */
  private readonly pems = new WeakMap<object, Map<SupportedAlgorithm, string>>();

  constructor(options: KeyResolverOptions) {
    if (options.issuers.length === 0) throw new TypeError('at least one issuer is required');
    for (const issuer of options.issuers) {
      if (new URL(issuer).protocol !== 'https:') throw new TypeError(`issuer must be an https URL: ${issuer}`);
    }
    this.issuers = new Set(options.issuers);
    this.cooldownMs = options.unknownKidCooldownMs ?? 30_000;
    const timeout = options.fetchTimeoutMs ?? 5_000;
    const ca = options.ca ?? (options.caFile === undefined ? undefined : readFileSync(options.caFile));
    this.dispatcher = new Agent({
      connect: { ...(ca === undefined ? {} : { ca }), timeout, rejectUnauthorized: true },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      maxResponseSize: 1024 * 1024,
    });
    this.jwks = buildGetJwks({
      issuersWhitelist: [...this.issuers],
      providerDiscovery: true,
      ttl: options.cacheTtlMs ?? 5 * 60_000,
      max: 100,
      // get-jwks passes these to the global fetch; the undici dispatcher carries the CA and timeouts.
      fetchOptions: { dispatcher: this.dispatcher, redirect: 'error' },
    });
  }

  /** Returns the PEM (SPKI) public key for a token header from an allowed issuer. */
  async publicKeyPem(issuer: string, alg: SupportedAlgorithm, kid: string): Promise<string> {
    if (!this.issuers.has(issuer)) throw new KeyResolutionError('issuer not allowed');
    const jwk = await this.lookup(issuer, alg, kid);
    let byAlg = this.pems.get(jwk);
    if (byAlg === undefined) this.pems.set(jwk, (byAlg = new Map<SupportedAlgorithm, string>()));
    let pem = byAlg.get(alg);
    if (pem === undefined) byAlg.set(alg, (pem = toPem(jwk, alg)));
    return pem;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async lookup(issuer: string, alg: SupportedAlgorithm, kid: string): Promise<buildGetJwks.JWK> {
    const cacheKey = this.jwks.generateCacheKey(alg, kid, normalizeDomain(issuer));
    if (this.jwks.cache.get(cacheKey) !== undefined) return this.jwks.getJwk({ domain: issuer, alg, kid });

    // Not cached: fetch, one lookup per issuer at a time.
    const previous = this.queue.get(issuer) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(() => this.fetchMissing(issuer, alg, kid, cacheKey));
    this.queue.set(issuer, current);
    try {
      return await current;
    } finally {
      if (this.queue.get(issuer) === current) this.queue.delete(issuer);
    }
  }

  private async fetchMissing(
    issuer: string,
    alg: SupportedAlgorithm,
    kid: string,
    cacheKey: string,
  ): Promise<buildGetJwks.JWK> {
    // An earlier lookup in the queue may have fetched it meanwhile.
    if (this.jwks.cache.get(cacheKey) !== undefined) return this.jwks.getJwk({ domain: issuer, alg, kid });
    if (Date.now() < (this.blockedUntil.get(issuer) ?? 0)) {
      const stale = this.jwks.staleCache.get(cacheKey);
      if (stale !== undefined) return stale;
      throw new KeyResolutionError('unknown key id; JWKS refetch is rate-limited');
    }
    try {
      return await this.jwks.getJwk({ domain: issuer, alg, kid });
    } catch (error) {
      this.blockedUntil.set(issuer, Date.now() + this.cooldownMs);
      const code = (error as { code?: unknown }).code;
      throw new KeyResolutionError(`key lookup failed: ${typeof code === 'string' ? code : String(error)}`, {
        cause: error,
      });
    }
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
