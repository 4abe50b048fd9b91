import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import { InputError } from '@aoetl/contracts';
import type { GatewayPipeline, StoredPipelineSpec } from '@aoetl/store';
import type { GatewayQueries, RouteOptions } from '../app.js';
import { messageContext } from '../request-context.js';
import {
  BODY_PROBLEMS,
  IdParams,
  IdempotencyHeaders,
  NoContent,
  PageOnlyQuery,
  PipelineBody,
  PipelinePage,
  PipelineResponse,
  RunAccepted,
  problems,
} from '../schemas.js';

export function pipelineView(p: GatewayPipeline) {
  return {
    id: p.id,
    name: p.name,
    version: p.version,
    spec: p.spec,
    createdBy: p.createdBy,
    createdAt: p.createdAt,
    updatedBy: p.updatedBy,
    updatedAt: p.updatedAt,
  };
}

/** Cross-field rules the JSON schema cannot say; each names its field. */
async function checkSpec(store: GatewayQueries, tenant: string, spec: StoredPipelineSpec): Promise<void> {
  const found: { field: string; message: string }[] = [];
  for (const side of ['source', 'target'] as const) {
    if (!(await store.connectionExists(tenant, spec[side].connection))) {
      found.push({ field: `body/${side}/connection`, message: `unknown connection '${spec[side].connection}'` });
    }
  }
  if (spec.target.mode === 'merge' && !spec.target.keys?.length) {
    found.push({ field: 'body/target/keys', message: 'mode merge needs at least one key column' });
  }
  if (found.length > 0) {
    throw new InputError(found.map((p) => `${p.field}: ${p.message}`).join('; '), { details: found });
  }
}

export const pipelineRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, approvalRequiredModes }) => {
  const needsApproval = (spec: StoredPipelineSpec) =>
    spec.approval?.required === true || approvalRequiredModes.includes(spec.target.mode);

  app.post(
    '/v1/pipelines',
    {
      preHandler: requirePermission('submit'),
      schema: {
        operationId: 'createPipeline',
        summary: 'Create a pipeline',
        tags: ['pipelines'],
        body: PipelineBody,
        response: { 201: PipelineResponse, ...problems(409, ...BODY_PROBLEMS) },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      await checkSpec(store, principal.tenant, request.body);
      const created = await store.createPipeline(principal.tenant, request.body, principal.id);
      request.log.info({ pipelineId: created.id, tenant: principal.tenant }, 'pipeline created');
      return reply.code(201).header('location', `/v1/pipelines/${created.id}`).send(pipelineView(created));
    },
  );

  app.get(
    '/v1/pipelines',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'listPipelines',
        summary: 'List pipelines',
        tags: ['pipelines'],
        querystring: PageOnlyQuery,
        response: { 200: PipelinePage, ...problems() },
      },
    },
    async (request) => {
      const page = await store.listPipelines(request.principal!.tenant, { limit: request.query.limit ?? 20, cursor: request.query.cursor });
      return { items: page.items.map(pipelineView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/pipelines/:id',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'getPipeline',
        summary: 'Get a pipeline',
        tags: ['pipelines'],
        params: IdParams,
        response: { 200: PipelineResponse, ...problems() },
      },
    },
    async (request) => pipelineView(await store.getPipeline(request.principal!.tenant, request.params.id)),
  );

  app.put(
    '/v1/pipelines/:id',
    {
      preHandler: requirePermission('submit'),
      schema: {
        operationId: 'updatePipeline',
        summary: 'Replace a pipeline\'s spec (bumps its version)',
        tags: ['pipelines'],
        params: IdParams,
        body: PipelineBody,
        response: { 200: PipelineResponse, ...problems(409, ...BODY_PROBLEMS) },
      },
    },
    async (request) => {
      const principal = request.principal!;
      await store.getPipeline(principal.tenant, request.params.id); // 404 before 400 for another tenant's id
      await checkSpec(store, principal.tenant, request.body);
      const updated = await store.updatePipeline(principal.tenant, request.params.id, request.body, principal.id);
      request.log.info({ pipelineId: updated.id, version: updated.version }, 'pipeline updated');
      return pipelineView(updated);
    },
  );

  app.delete(
    '/v1/pipelines/:id',
    {
      preHandler: requirePermission('submit'),
      schema: {
        operationId: 'deletePipeline',
        summary: 'Delete a pipeline (its runs and artifacts stay readable)',
        tags: ['pipelines'],
        params: IdParams,
        response: { 204: NoContent, ...problems() },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      await store.deletePipeline(principal.tenant, request.params.id, principal.id);
      request.log.info({ pipelineId: request.params.id }, 'pipeline deleted');
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/pipelines/:id/runs',
    {
      preHandler: requirePermission('submit'),
      schema: {
        operationId: 'createRun',
        summary: 'Start a run (it waits for an approval when the pipeline or a policy asks for one)',
        tags: ['runs'],
        params: IdParams,
        headers: IdempotencyHeaders,
        response: { 202: RunAccepted, ...problems() },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      const key = request.headers['idempotency-key'];
      const { run, created } = await store.createRun({
        tenant: principal.tenant,
        pipelineId: request.params.id,
        submittedBy: principal.id,
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
        ctx: messageContext(request),
        needsApproval,
      });
      request.log.info({ runId: run.id, created, status: run.status }, 'run accepted');
      return reply.code(202).header('location', `/v1/runs/${run.id}`).send({ runId: run.id, status: run.status, created });
    },
  );
};
