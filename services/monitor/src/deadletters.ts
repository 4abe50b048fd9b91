import type { FastifyInstance } from 'fastify';
import { requireRole } from '@aoetl/auth';
import { STREAM_ID_PATTERN, type DeadLetterStore } from '@aoetl/bus';

/**
 * Admin routes over the dead-letter stream: list entries with their reasons, and replay one onto the stream it
 * came from (then remove it from the dead letters). Only callers with the admin role (the caller registers the
 * authentication in the same context, before these routes); every replay is logged.
 */
export async function deadLetterRoutes(app: FastifyInstance, opts: { deadLetters: DeadLetterStore }): Promise<void> {
  app.setErrorHandler((err: { statusCode?: number; message: string }, request, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err }, 'admin request failed');
    return reply
      .code(status)
      .type('application/problem+json')
      .send({ type: 'about:blank', title: status === 500 ? 'internal error' : 'bad request', status, ...(status < 500 ? { detail: err.message } : {}) });
  });
  const admin = { preHandler: requireRole('admin') };

  app.get<{ Querystring: { limit?: number } }>(
    '/v1/admin/deadletters',
    { ...admin, schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 500 } }, additionalProperties: false } } },
    async (request) => ({ items: await opts.deadLetters.list(request.query.limit ?? 50) }),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/admin/deadletters/:id/replay',
    { ...admin, schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: STREAM_ID_PATTERN.source } }, required: ['id'] } } },
    async (request, reply) => {
      const outcome = await opts.deadLetters.replay(request.params.id);
      if (outcome.kind === 'not_found') return reply.code(404).type('application/problem+json').send({ type: 'about:blank', title: 'not found', status: 404 });
      if (outcome.kind === 'not_replayable') {
        return reply.code(409).type('application/problem+json').send({ type: 'about:blank', title: 'not replayable', status: 409, detail: `stream ${outcome.stream || '?'} cannot be replayed` });
      }
      const { replayedAs, stream } = outcome;
      request.log.warn({ audit: 'deadletter.replayed', by: request.principal?.id, deadLetter: request.params.id, stream, replayedAs }, 'dead letter replayed');
      return { replayedAs, stream };
    },
  );
}
