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
