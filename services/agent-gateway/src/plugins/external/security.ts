import helmet from '@fastify/helmet';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface SecurityOptions {
  /** 503 while the event loop lags more than this. */
  maxEventLoopDelayMs: number;
}

/**
 * Security headers (helmet) and load shedding (under-pressure): while the event loop lags, requests get 503 with
 * retry-after (the problems plugin writes the problem+json).
 */
export const security = fp(
  async (app: FastifyInstance, opts: SecurityOptions) => {
    await app.register(helmet, {
      // The API answers JSON; the only HTML is Swagger UI, whose plugin sets its own static CSP.
      // (No upgrade-insecure-requests: the local gateway speaks plain http behind its TLS-terminating ingress.)
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
      },
      crossOriginResourcePolicy: { policy: 'same-origin' },
    });
    await app.register(underPressure, {
      maxEventLoopDelay: opts.maxEventLoopDelayMs,
      retryAfter: 10,
      exposeStatusRoute: false,
    });
  },
  { name: 'security', dependencies: ['problems'] },
);
