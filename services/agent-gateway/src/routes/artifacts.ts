import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import type { RouteOptions } from '../app.js';
import { LIST_FIELDS, withRequestFields } from '../request-context.js';
import {
  ArtifactDiff,
  ArtifactPage,
  ArtifactParams,
  ArtifactResponse,
  DiffQuery,
  IdParams,
  PageOnlyQuery,
  problems,
} from '../schemas.js';

/** Kept for routes that still diff in-line (pipelines' version diff). */
export { unifiedDiff } from '../diff.js';

export const artifactRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, diffs, expensiveRateLimit }) => {
  app.get(
    '/v1/pipelines/:id/artifacts',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'listArtifacts',
        summary: 'List a pipeline\'s generated-code artifacts with version and hash',
        tags: ['artifacts'],
        params: IdParams,
        querystring: PageOnlyQuery,
        response: { 200: ArtifactPage, ...problems() },
      },
    },
    async (request) =>
      withRequestFields(LIST_FIELDS, () =>
        store.artifacts.list(request.principal!.tenant, request.params.id, { limit: request.query.limit ?? 20, cursor: request.query.cursor }),
      ),
  );

  app.get(
    '/v1/pipelines/:id/artifacts/:version',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'getArtifact',
        summary: 'Get one artifact version with its code',
        tags: ['artifacts'],
        params: ArtifactParams,
        response: { 200: ArtifactResponse, ...problems() },
      },
    },
    async (request) => store.artifacts.get(request.principal!.tenant, request.params.id, request.params.version),
  );

  app.get(
    '/v1/pipelines/:id/artifacts/:version/diff',
    {
      preHandler: requirePermission('read'),
      config: { rateLimit: expensiveRateLimit },
      schema: {
        operationId: 'diffArtifact',
        summary: 'What changed in an artifact version (against version - 1, or `against`)',
        tags: ['artifacts'],
        params: ArtifactParams,
        querystring: DiffQuery,
        response: { 200: ArtifactDiff, ...problems() },
      },
    },
    async (request) => {
      const tenant = request.principal!.tenant;
      const { id, version } = request.params;
      const to = await store.artifacts.get(tenant, id, version);
      const againstVersion = request.query.against ?? version - 1;
      const from = againstVersion >= 1 ? await store.artifacts.get(tenant, id, againstVersion) : null;
      const diff = await diffs.diff(`${from?.sha256 ?? ''}:${to.sha256}`, from ? `v${from.version}` : '/dev/null', `v${to.version}`, from?.code ?? '', to.code);
      return {
        pipelineId: id,
        from: from ? { version: from.version, sha256: from.sha256 } : null,
        to: { version: to.version, sha256: to.sha256 },
        ...diff,
      };
    },
  );
};
