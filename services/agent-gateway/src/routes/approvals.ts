import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import type { ApprovalState } from '@aoetl/store';
import type { RouteOptions } from '../app.js';
import { LIST_FIELDS, messageContext, withRequestFields } from '../request-context.js';
import { ApprovalDecision, ApprovalListQuery, ApprovalPage, ApprovalResponse, BODY_PROBLEMS, IdParams, problems } from '../schemas.js';

export const approvalRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store }) => {
  app.get(
    '/v1/approvals',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'listApprovals',
        summary: 'List the approvals of runs that need one (state=pending: what waits for a decision)',
        tags: ['approvals'],
        querystring: ApprovalListQuery,
        response: { 200: ApprovalPage, ...problems() },
      },
    },
    async (request) => {
      const { limit, cursor, state } = request.query;
      return withRequestFields(LIST_FIELDS, () =>
        store.approvals.list(request.principal!.tenant, { state: state as ApprovalState | undefined }, { limit: limit ?? 20, cursor }),
      );
    },
  );

  app.get(
    '/v1/runs/:id/approval',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'getApproval',
        summary: 'Get the approval of a run (404 when the run needs none)',
        tags: ['approvals'],
        params: IdParams,
        response: { 200: ApprovalResponse, ...problems() },
      },
    },
    async (request) => store.approvals.get(request.principal!.tenant, request.params.id),
  );

  app.post(
    '/v1/runs/:id/approval',
    {
      preHandler: requirePermission('approve'),
      bodyLimit: 16 * 1024,
      schema: {
        operationId: 'decideApproval',
        summary: 'Approve or reject a run awaiting approval (four eyes: never its submitter)',
        tags: ['approvals'],
        params: IdParams,
        body: ApprovalDecision,
        response: { 200: ApprovalResponse, ...problems(409, ...BODY_PROBLEMS) },
      },
    },
    async (request) => {
      const principal = request.principal!;
      const approval = await store.approvals.decide({
        tenant: principal.tenant,
        runId: request.params.id,
        decidedBy: principal.id,
        decision: request.body.decision === 'approve' ? 'approved' : 'rejected',
        comment: request.body.comment,
        ctx: messageContext(request),
      });
      request.log.info({ runId: approval.runId, decision: approval.state }, 'approval decided');
      return approval;
    },
  );
};
