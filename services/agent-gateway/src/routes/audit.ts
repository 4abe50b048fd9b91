import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import type { RouteOptions } from '../app.js';
import { LIST_FIELDS, withRequestFields } from '../request-context.js';
import { AuditPage, AuditQuery, problems } from '../schemas.js';

export const auditRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store }) => {
  app.get(
    '/v1/audit',
    {
      preHandler: requirePermission('admin'),
      schema: {
        operationId: 'queryAudit',
        summary: 'Query the tenant\'s audit trail (pipelines, connections, runs and their steps, artifacts, approvals)',
        tags: ['audit'],
        querystring: AuditQuery,
        response: { 200: AuditPage, ...problems() },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return withRequestFields(LIST_FIELDS, () => store.audit.query(request.principal!.tenant, filter, { limit: limit ?? 20, cursor }));
    },
  );
};
