import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { ConfigError, UnauthorizedError } from '@aoetl/contracts';

import {
  isSupportedAlgorithm,
  JwksKeyResolver,
  KeyResolutionError,
  SUPPORTED_ALGORITHMS,
  type KeyResolverOptions,
  type SupportedAlgorithm,
} from './keys.js';
import { principalFromClaims, type Principal } from './principal.js';

export interface AuthPluginOptions extends KeyResolverOptions {
  /** Accepted `aud` value(s). */
  audience: string | readonly string[];
  /** Accepted signature algorithms; a subset of RS256, ES256, EdDSA (default: all three). */
  algorithms?: readonly SupportedAlgorithm[];
  /** Tolerance for exp, nbf and iat. Default 30 s. */
  clockSkewSeconds?: number;
  /** Required JOSE `typ` header (RFC 9068 access tokens use `at+jwt`); false disables the check. Default `at+jwt`. */
  tokenType?: string | false;
  /**
   * How many verified tokens to remember (by their hash) so a client reusing its token skips the signature check;
   * an entry lives at most 60 s and never past the token's exp (or before its nbf). 0 disables. Default 1000.
   */
  verifiedTokenCache?: number;
  /**
   * true (default): every route of the registering context requires a valid token, except routes
   * with `config: { auth: false }`. false: only routes that use `fastify.authenticate` as a hook.
   */
  global?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the bearer token has been verified; null otherwise. */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** onRequest/preHandler hook that verifies the bearer token and sets `request.principal`. */
    authenticate: onRequestHookHandler;
  }
  interface FastifyContextConfig {
    /** Set to false to skip authentication for a route when the plugin runs globally. */
    auth?: boolean;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;
const MAX_TOKEN_LENGTH = 8192;
const MAX_KID_LENGTH = 256;
/** Headers that would let a token choose its own verification key; never honoured, and rejected. */
const KEY_SOURCE_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'];
const VERIFY_METHOD = 'aoetlJwtVerify';

/** The bearer token failed a check of this plugin (algorithm, key source, kid, issuer, iat, header format). */
class TokenRejectedError extends UnauthorizedError {}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || header.length > MAX_TOKEN_LENGTH) return undefined;
  return BEARER.exec(header)?.[1];
}

async function authPlugin(fastify: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const issuers = new Set(options.issuers);
  const algorithms = [...(options.algorithms ?? SUPPORTED_ALGORITHMS)];
  if (algorithms.length === 0 || !algorithms.every(isSupportedAlgorithm)) {
    throw new ConfigError(`algorithms must be a non-empty subset of ${SUPPORTED_ALGORITHMS.join(', ')}`);
  }
  const audience = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
  if (audience.length === 0 || audience.some((aud) => aud.length === 0)) throw new ConfigError('audience is required');
  const skewSeconds = options.clockSkewSeconds ?? 30;
  const tokenType = options.tokenType ?? 'at+jwt';

  const resolver = new JwksKeyResolver(options);
  fastify.addHook('onClose', async () => resolver.close());

  // The key comes only from the allow-listed issuer's JWKS, chosen by the token's iss, alg and kid.
  async function keyForToken(request: FastifyRequest, decoded: unknown): Promise<string> {
    const { header, payload } = decoded as { header: Record<string, unknown>; payload: Record<string, unknown> };
    const alg = header.alg;
    if (!isSupportedAlgorithm(alg) || !algorithms.includes(alg)) throw new TokenRejectedError('algorithm not allowed');
    if (KEY_SOURCE_HEADERS.some((name) => name in header)) throw new TokenRejectedError('key source header present');
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
      throw new TokenRejectedError('missing or invalid kid');
    }
    const iss = payload.iss;
    if (typeof iss !== 'string' || !issuers.has(iss)) throw new TokenRejectedError('issuer not allowed');
    return resolver.publicKeyPem(iss, alg, kid, { clientAddress: request.ip });
  }

  await fastify.register(fastifyJwt, {
    namespace: 'aoetl',
    jwtVerify: VERIFY_METHOD,
    jwtDecode: 'aoetlJwtDecode',
    jwtSign: 'aoetlJwtSign',
    decoratorName: 'aoetlTokenClaims',
    secret: keyForToken,
    decode: { complete: true },
    verify: {
      algorithms,
      allowedIss: [...issuers],
      allowedAud: audience,
      clockTolerance: skewSeconds * 1000,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      ...((options.verifiedTokenCache ?? 1000) > 0 ? { cache: options.verifiedTokenCache ?? 1000, cacheTTL: 60_000 } : {}),
      ...(tokenType === false ? {} : { checkTyp: tokenType }),
      extractToken: bearerToken,
    },
  });

  fastify.decorateRequest('principal', null);

  /**
   * Verifies the request's bearer token and sets `request.principal`; otherwise throws an `UnauthorizedError`,
   * which the `problems` plugin answers with a 401 that says nothing about why (the reason is only logged).
   */
  async function authenticateRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.headers.authorization === undefined) throw new UnauthorizedError('no bearer token');
    try {
      if (bearerToken(request) === undefined) throw new TokenRejectedError('malformed authorization header');
      const verify = (request as unknown as Record<string, () => Promise<Record<string, unknown>>>)[VERIFY_METHOD];
      const claims = await verify!.call(request);
      const iat = claims.iat;
      if (typeof iat !== 'number' || iat * 1000 > Date.now() + skewSeconds * 1000) {
        throw new TokenRejectedError('iat invalid or in the future');
      }
      request.principal = principalFromClaims(claims);
    } catch (error) {
      const fetchProblem = error instanceof KeyResolutionError && !/not allowed|rate-limited|NOT_FOUND/.test(error.message);
      request.log[fetchProblem ? 'warn' : 'info']({ reason: reasonOf(error) }, 'bearer token rejected');
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new UnauthorizedError('bearer token rejected', { cause: error });
    }
  }

  // Callback-style hook: fits every fastify hook slot without promise lint exceptions.
  const authenticate: onRequestHookHandler = (request, reply, done) => {
    authenticateRequest(request, reply).then(
      () => done(),
      (error: Error) => done(error),
    );
  };
  fastify.decorate('authenticate', authenticate);

  if (options.global !== false) {
    fastify.addHook('onRequest', function authenticateAll(request, reply, done) {
      if (request.routeOptions.config?.auth === false) {
        done();
        return;
      }
      authenticate.call(this, request, reply, done);
    });
  }
}

function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
}

/**
 * Fastify plugin: verifies OIDC bearer access tokens and sets `request.principal`. Refusals are thrown
 * (`UnauthorizedError`, `NotAllowedError`): it needs `@aoetl/http`'s `problems` plugin registered first.
 */
export const aoetlAuth = fp(authPlugin, { fastify: '5.x', name: '@aoetl/auth', dependencies: ['problems'] });
