import type { FastifyInstance } from 'fastify';
import { requireRole } from '@aoetl/auth';
import type { QuarantineService } from '@aoetl/quarantine';

const Body = {
  type: 'object',
  properties: {
    agentId: { type: 'string', minLength: 1, maxLength: 300 },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
  },
  required: ['agentId', 'reason'],
  additionalProperties: false,
} as const;

/**
 * Admin routes of the quarantine (admin role; the caller registers problem+json and authentication first): the
 * agents with their quarantine state, quarantine one now, release one. Both actions are audited with the caller.
 */
export async function quarantineRoutes(app: FastifyInstance, opts: { quarantine: QuarantineService; threshold: number; windowMs: number }): Promise<void> {
  const admin = { preHandler: requireRole('admin') };
  const actor = (id: string | undefined) => `user:${id ?? 'unknown'}`;

  app.get('/v1/admin/agents', admin, async () => ({
    threshold: opts.threshold,
    windowMs: opts.windowMs,
    items: await opts.quarantine.agents(),
  }));

  app.post<{ Body: { agentId: string; reason: string } }>('/v1/admin/agents/quarantine', { ...admin, schema: { body: Body } }, async (request, reply) => {
    const { agentId, reason } = request.body;
    request.log.warn({ audit: 'agent.quarantine.requested', by: request.principal?.id, agentId }, 'quarantine requested by an admin');
    const record = await opts.quarantine.quarantine(agentId, { actor: actor(request.principal?.id), reason, trigger: 'admin' });
    return reply.code(201).send(record);
  });

  app.post<{ Body: { agentId: string; reason: string } }>('/v1/admin/agents/release', { ...admin, schema: { body: Body } }, async (request) => {
    const { agentId, reason } = request.body;
    request.log.warn({ audit: 'agent.release.requested', by: request.principal?.id, agentId }, 'quarantine release requested by an admin');
    return opts.quarantine.release(agentId, actor(request.principal?.id), reason);
  });
}
