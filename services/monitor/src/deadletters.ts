import type { FastifyInstance } from 'fastify';
import { requireRole } from '@aoetl/auth';
import { STREAM_ID_PATTERN, type DeadLetterStore } from '@aoetl/bus';
import { ConflictError, NotFoundError } from '@aoetl/contracts';

/**
 * Admin routes over the dead-letter stream: list entries with their reasons, and replay one onto the stream it
 * came from (then remove it from the dead letters). Only callers with the admin role (the caller registers the
 * shared problem+json plugin and the authentication in the same context, before these routes); every replay is logged.
 */
export async function deadLetterRoutes(app: FastifyInstance, opts: { deadLetters: DeadLetterStore }): Promise<void> {
  const admin = { preHandler: requireRole('admin') };

  app.get<{ Querystring: { limit?: number } }>(
    '/v1/admin/deadletters',
    { ...admin, schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 500 } }, additionalProperties: false } } },
    async (request) => ({ items: await opts.deadLetters.list(request.query.limit ?? 50) }),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/admin/deadletters/:id/replay',
    { ...admin, schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: STREAM_ID_PATTERN.source } }, required: ['id'] } } },
    async (request) => {
      const outcome = await opts.deadLetters.replay(request.params.id);
      if (outcome.kind === 'not_found') throw new NotFoundError(`no dead letter ${request.params.id}`);
      if (outcome.kind === 'not_replayable') throw new ConflictError(`stream ${outcome.stream || '?'} cannot be replayed`);
      const { replayedAs, stream } = outcome;
      request.log.warn({ audit: 'deadletter.replayed', by: request.principal?.id, deadLetter: request.params.id, stream, replayedAs }, 'dead letter replayed');
      return { replayedAs, stream };
    },
  );
}
