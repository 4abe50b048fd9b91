import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export const API_VERSION = '1.0.0';

export const TAGS = [
  { name: 'pipelines', description: 'Pipeline definitions (permission submit to change, read to see)' },
  { name: 'runs', description: 'Runs of a pipeline, their status history and live events' },
  { name: 'approvals', description: 'Four-eyes approvals of runs (permission approve to decide)' },
  { name: 'connections', description: 'The connection registry: Vault references only (permission admin to change)' },
  { name: 'artifacts', description: 'Generated-code artifacts per pipeline: versions, hashes and diffs' },
  { name: 'audit', description: 'The hash-chained audit ledger, its verification, and GDPR erasure (permission admin)' },
];

/**
 * OpenAPI 3.1 generated from the route schemas (@fastify/swagger) and Swagger UI at /docs (public, no token).
 * Registered before the routes so it sees them all.
 */
export interface OpenApiOptions {
  /** Serve Swagger UI at /docs (false in jest, which cannot load @fastify/static's ESM-only dependency). */
  ui: boolean;
}

export const openapi = fp(
  async (app: FastifyInstance, opts: OpenApiOptions) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'aoetl agent-gateway',
          version: API_VERSION,
          description:
            'The REST door to aoetl. Every operation needs an OIDC access token (RS256, ES256 or EdDSA) for the audience ' +
            'aoetl-api, with a `tenant` claim and `roles` that grant read, submit, approve or admin (`aoetl:*` scopes only narrow them). ' +
            'Errors are application/problem+json (RFC 9457) naming the offending field. Lists are paginated with limit and cursor.',
        },
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'OIDC access token (at+jwt)' },
          },
        },
        security: [{ bearerAuth: [] }],
        tags: TAGS,
      },
      // Shared schemas (app.addSchema) become components named by their $id.
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    });
    if (opts.ui) {
      await app.register(swaggerUi, {
        routePrefix: '/docs',
        // Swagger UI loads only its own files; nothing from elsewhere, no framing.
        staticCSP: {
          'default-src': ["'self'"],
          'base-uri': ["'self'"],
          'img-src': ["'self'", 'data:'],
          'object-src': ["'none'"],
          'script-src': ["'self'"],
          'style-src': ["'self'", "'unsafe-inline'"],
          'frame-ancestors': ["'none'"],
        },
      });
    }
  },
  { name: 'openapi' },
);
