import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { aoetlAuth, type AuthPluginOptions } from '@aoetl/auth';
import type { Logger } from '@aoetl/observability';
import type { ControlStore } from '@aoetl/store';
import { problems } from './plugins/problems.js';
import { pipelineRoutes } from './routes/pipelines.js';
import { runRoutes } from './routes/runs.js';
import { requestIdFrom } from './request-context.js';

export interface AppDeps {
  store: ControlStore;
  logger: Logger;
  auth: AuthPluginOptions;
  bodyLimit?: number;
}

/** The gateway as a fastify instance: tests call `inject()` on it; server.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 256 * 1024,
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    requestIdLogLabel: 'requestId',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(problems);
  await app.register(aoetlAuth, deps.auth);
  await app.register(pipelineRoutes, { store: deps.store });
  await app.register(runRoutes, { store: deps.store });
  return app;
}
