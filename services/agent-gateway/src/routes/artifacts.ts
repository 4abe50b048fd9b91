import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { formatPatch, structuredPatch, type StructuredPatch } from 'diff';
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

/** Past this many changed lines (or this long) a diff is given up and shown as a whole-file replacement. */
const MAX_EDIT_LENGTH = 5000;
const DIFF_TIMEOUT_MS = 250;

/** Unified diff of two texts with its added and deleted line counts; bounded in time for hostile inputs. */
export function unifiedDiff(fromName: string, toName: string, before: string, after: string) {
  const patch: StructuredPatch =
    structuredPatch(fromName, toName, before, after, undefined, undefined, { context: 3, maxEditLength: MAX_EDIT_LENGTH, timeout: DIFF_TIMEOUT_MS }) ??
    wholeReplacement(fromName, toName, before, after);
  let additions = 0;
  let deletions = 0;
  for (const hunk of patch.hunks) {
    for (const line of hunk.lines) {
      if (line.startsWith('+')) additions += 1;
      else if (line.startsWith('-')) deletions += 1;
    }
  }
  return { unified: patch.hunks.length === 0 ? '' : formatPatch(patch), additions, deletions };
}

function wholeReplacement(fromName: string, toName: string, before: string, after: string): StructuredPatch {
  const lines = (text: string) => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));
  const oldLines = lines(before);
  const newLines = lines(after);
  return {
    oldFileName: fromName,
    newFileName: toName,
    oldHeader: undefined,
    newHeader: undefined,
    hunks: [
      {
        oldStart: oldLines.length ? 1 : 0,
        oldLines: oldLines.length,
        newStart: newLines.length ? 1 : 0,
        newLines: newLines.length,
        lines: [...oldLines.map((l) => `-${l}`), ...newLines.map((l) => `+${l}`)],
      },
    ],
  };
}

export const artifactRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, expensiveRateLimit }) => {
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
      const diff = unifiedDiff(from ? `v${from.version}` : '/dev/null', `v${to.version}`, from?.code ?? '', to.code);
      return {
        pipelineId: id,
        from: from ? { version: from.version, sha256: from.sha256 } : null,
        to: { version: to.version, sha256: to.sha256 },
        ...diff,
      };
    },
  );
};
