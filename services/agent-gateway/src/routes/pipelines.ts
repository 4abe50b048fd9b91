import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import { InputError } from '@aoetl/contracts';
import type { PipelineRecord, StoredPipelineSpec } from '@aoetl/store';
import type { GatewayQueries, RouteOptions } from '../app.js';
import { LIST_FIELDS, PIPELINE_BODY_FIELDS, withRequestFields } from '../request-context.js';
import {
  BODY_PROBLEMS,
  IdParams,
  NoContent,
  PageOnlyQuery,
  PipelineBody,
  PipelinePage,
  PipelineResponse,
  problems,
} from '../schemas.js';

export function pipelineView(p: PipelineRecord) {
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
    if (!(await store.connections.exists(tenant, spec[side].connection))) {
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

export const pipelineRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store }) => {
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
      const created = await withRequestFields(PIPELINE_BODY_FIELDS, () =>
        store.pipelines.create(principal.tenant, request.body, principal.id),
      );
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
      const page = await withRequestFields(LIST_FIELDS, () =>
        store.pipelines.list(request.principal!.tenant, { limit: request.query.limit ?? 20, cursor: request.query.cursor }),
      );
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
    async (request) => pipelineView(await store.pipelines.get(request.principal!.tenant, request.params.id)),
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
      await store.pipelines.get(principal.tenant, request.params.id); // 404 before 400 for another tenant's id
      await checkSpec(store, principal.tenant, request.body);
      const updated = await withRequestFields(PIPELINE_BODY_FIELDS, () =>
        store.pipelines.update(principal.tenant, request.params.id, request.body, principal.id),
      );
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
      await store.pipelines.delete(principal.tenant, request.params.id, principal.id);
      request.log.info({ pipelineId: request.params.id }, 'pipeline deleted');
      return reply.code(204).send();
    },
  );
};
