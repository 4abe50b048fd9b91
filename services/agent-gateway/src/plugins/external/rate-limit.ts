import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { TooManyRequestsError } from '@aoetl/contracts';

export interface RateLimitOptions {
  perMinute: number;
}

/**
 * Per-identity rate limit. Runs as a preHandler, after authentication, so the key is the verified principal
 * (`issuer|subject`), not an address a caller can rotate.
 */
export const perIdentityRateLimit = fp(
  async (app: FastifyInstance, opts: RateLimitOptions) => {
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: opts.perMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => (request.principal ? `id:${request.principal.id}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) =>
        new TooManyRequestsError(`at most ${context.max} requests per minute per identity; retry in ${context.after}`),
    });
  },
  { name: 'per-identity-rate-limit', dependencies: ['@aoetl/auth'] },
);

/** Client addresses remembered by the unauthenticated limit (oldest forgotten first). */
const MAX_TRACKED_ADDRESSES = 10_000;

/**
 * Per-address limit of unauthenticated requests, checked in onRequest before any token is verified (register
 * it before the auth plugin): an address whose requests were answered 401 `perMinute` times within a minute
 * gets 429 with Retry-After for every request until that minute is over, without its tokens being looked at.
 * A flood of forged or unknown-kid tokens thus costs one map lookup per request, not a signature check.
 */
export const unauthenticatedRateLimit = fp(
  async (app: FastifyInstance, opts: RateLimitOptions) => {
    const windowMs = 60_000;
    const failures = new Map<string, { count: number; resetAt: number }>();
    app.addHook('onRequest', async (request, reply) => {
      const entry = failures.get(request.ip);
      if (entry === undefined) return;
      const now = Date.now();
      if (entry.resetAt <= now) {
        failures.delete(request.ip);
      } else if (entry.count >= opts.perMinute) {
        const seconds = Math.ceil((entry.resetAt - now) / 1000);
        void reply.header('retry-after', String(seconds));
        throw new TooManyRequestsError(
          `at most ${opts.perMinute} unauthenticated requests per minute per client address; retry in ${seconds} seconds`,
        );
      }
    });
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode !== 401) return;
      const now = Date.now();
      const entry = failures.get(request.ip);
      if (entry !== undefined && entry.resetAt > now) {
        entry.count += 1;
        return;
      }
      failures.delete(request.ip);
      failures.set(request.ip, { count: 1, resetAt: now + windowMs });
      if (failures.size > MAX_TRACKED_ADDRESSES) failures.delete(failures.keys().next().value!);
    });
  },
  { name: 'unauthenticated-rate-limit' },
);
