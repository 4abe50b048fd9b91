import type { FastifyInstance } from 'fastify';
import type Redis from 'ioredis';
import { aoetlAuth, requireRole, type AuthPluginOptions } from '@aoetl/auth';
import { ConflictError, NotFoundError, STREAMS } from '@aoetl/contracts';
import { problems } from '@aoetl/http';

const ID = /^\d{1,20}-\d{1,20}$/;
const REPLAYABLE = new Set<string>([STREAMS.requests, STREAMS.tasks, STREAMS.events]);

function fields(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/**
 * Admin routes over the dead-letter stream: list entries with their reasons, and replay one onto the stream it
 * came from (then remove it from the dead letters). Only callers with the admin role; every replay is logged.
 */
export async function deadLetterRoutes(app: FastifyInstance, opts: { redis: Redis; auth: AuthPluginOptions }): Promise<void> {
  await app.register(problems, { serviceName: 'monitor' });
  await app.register(aoetlAuth, opts.auth);
  const admin = { preHandler: requireRole('admin') };

  app.get<{ Querystring: { limit?: number } }>(
    '/v1/admin/deadletters',
    { ...admin, schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 500 } }, additionalProperties: false } } },
    async (request) => {
      const entries = (await opts.redis.xrevrange(STREAMS.deadletter, '+', '-', 'COUNT', request.query.limit ?? 50)) as [string, string[]][];
      return {
        items: entries.map(([id, f]) => {
          const e = fields(f);
          return { id, stream: e.stream, group: e.group, entry: e.entry, reason: e.reason, message: e.m };
        }),
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/admin/deadletters/:id/replay',
    { ...admin, schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: ID.source } }, required: ['id'] } } },
    async (request) => {
      const found = (await opts.redis.xrange(STREAMS.deadletter, request.params.id, request.params.id)) as [string, string[]][];
      const entry = found[0];
      if (!entry) throw new NotFoundError(`no dead letter ${request.params.id}`);
      const e = fields(entry[1]);
      if (!e.stream || !REPLAYABLE.has(e.stream) || e.m === undefined) {
        throw new ConflictError(`stream ${e.stream ?? '?'} cannot be replayed`);
      }
      const replayedAs = await opts.redis.xadd(e.stream, '*', 'm', e.m);
      await opts.redis.xdel(STREAMS.deadletter, entry[0]);
      request.log.warn({ audit: 'deadletter.replayed', by: request.principal?.id, deadLetter: entry[0], stream: e.stream, replayedAs }, 'dead letter replayed');
      return { replayedAs, stream: e.stream };
    },
  );
}
