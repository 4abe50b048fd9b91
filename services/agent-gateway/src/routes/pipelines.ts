import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requireRole } from '@aoetl/auth';
import { InputError, NotFoundError, PipelineSpec } from '@aoetl/contracts';
import type { ControlStore, PipelineRecord } from '@aoetl/store';
import { IdParams, PipelineResponse, RunAccepted, errorResponses } from '../schemas.js';
import { messageContext } from '../request-context.js';

function view(p: PipelineRecord) {
  return { id: p.id, name: p.name, spec: p.spec, createdBy: p.createdBy, createdAt: p.createdAt };
}

/** Cross-field rules the JSON schema cannot say; each names its field. */
async function checkSpec(store: ControlStore, tenant: string, spec: PipelineSpec): Promise<void> {
  const problems: { field: string; message: string }[] = [];
  for (const side of ['source', 'target'] as const) {
    try {
      await store.getConnection(tenant, spec[side].connection);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      problems.push({ field: `body/${side}/connection`, message: `unknown connection '${spec[side].connection}'` });
    }
  }
  if (spec.target.mode === 'merge' && !spec.target.keys?.length) {
    problems.push({ field: 'body/target/keys', message: 'mode merge needs at least one key column' });
  }
  if (problems.length > 0) {
    throw new InputError(problems.map((p) => `${p.field}: ${p.message}`).join('; '), { details: problems });
  }
}

export const pipelineRoutes: FastifyPluginAsyncTypebox<{ store: ControlStore }> = async (app, { store }) => {
  app.post(
    '/v1/pipelines',
    {
      preHandler: requireRole('submit', 'admin'),
      schema: { body: PipelineSpec, response: { 201: PipelineResponse, ...errorResponses } },
    },
    async (request, reply) => {
      const principal = request.principal!;
      await checkSpec(store, principal.tenant, request.body);
      const created = await store.createPipeline(principal.tenant, request.body, principal.id);
      request.log.info({ pipelineId: created.id, tenant: principal.tenant }, 'pipeline created');
      return reply.code(201).header('location', `/v1/pipelines/${created.id}`).send(view(created));
    },
  );

  app.get(
    '/v1/pipelines/:id',
    {
      preHandler: requireRole('read', 'submit', 'approve', 'admin'),
      schema: { params: IdParams, response: { 200: PipelineResponse, ...errorResponses } },
    },
    async (request) => view(await store.getPipeline(request.principal!.tenant, request.params.id)),
  );

  app.post(
    '/v1/pipelines/:id/runs',
    {
      preHandler: requireRole('submit', 'admin'),
      schema: {
        params: IdParams,
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$' } },
        },
        response: { 202: RunAccepted, ...errorResponses },
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
      });
      request.log.info({ runId: run.id, created }, 'run accepted');
      return reply.code(202).header('location', `/v1/runs/${run.id}`).send({ runId: run.id, status: run.status, created });
    },
  );
};
