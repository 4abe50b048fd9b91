import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { verifyChain } from '@aoetl/audit';
import { requirePermission } from '@aoetl/auth';
import type { RouteOptions } from '../app.js';
import { LIST_FIELDS, withRequestFields } from '../request-context.js';
import { AuditPage, AuditQuery, AuditVerification, problems } from '../schemas.js';

/** Without a signing key's verifier no checkpoint can be trusted: every one fails (and there are none to read). */
const NO_VERIFIER = { verify: async () => false };

export const auditRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, governance }) => {
  app.get(
    '/v1/audit',
    {
      preHandler: requirePermission('admin'),
      schema: {
        operationId: 'queryAudit',
        summary: 'The tenant\'s audit ledger: every change, decision, erasure and purge, hash-chained, newest first',
        tags: ['audit'],
        querystring: AuditQuery,
        response: { 200: AuditPage, ...problems() },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return withRequestFields(LIST_FIELDS, () => store.ledger.query(request.principal!.tenant, filter, { limit: limit ?? 20, cursor }));
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      preHandler: requirePermission('admin'),
      schema: {
        operationId: 'verifyAudit',
        summary: 'Recompute the tenant\'s chain and check it against the signed checkpoints: ok, or the first bad entry and why',
        tags: ['audit'],
        response: { 200: AuditVerification, ...problems() },
      },
    },
    async (request) => {
      const tenant = request.principal!.tenant;
      const checkpoints = governance ? await governance.checkpoints(tenant) : [];
      const result = await verifyChain(store.ledger.entries(tenant), checkpoints, governance?.verifier ?? NO_VERIFIER, tenant);
      if (!result.ok) request.log.warn({ tenant, firstBad: result.firstBad }, 'audit ledger does not verify');
      return result;
    },
  );
};
