import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requireRole } from '@aoetl/auth';
import type { ControlStore } from '@aoetl/store';
import { IdParams, RunResponse, errorResponses } from '../schemas.js';

export const runRoutes: FastifyPluginAsyncTypebox<{ store: ControlStore }> = async (app, { store }) => {
  app.get(
    '/v1/runs/:id',
    {
      preHandler: requireRole('read', 'submit', 'approve', 'admin'),
      schema: { params: IdParams, response: { 200: RunResponse, ...errorResponses } },
    },
    async (request) => {
      const tenant = request.principal!.tenant;
      const run = await store.getRun(tenant, request.params.id);
      const steps = await store.getRunSteps(tenant, run.id);
      const { tenant: _tenant, ...visible } = run;
      return { ...visible, steps };
    },
  );
};
