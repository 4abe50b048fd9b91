import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import { InputError, NotFoundError, loadSpecProblems, transformLanguage, transformSource } from '@aoetl/contracts';
import { changeNeedsApproval, outputOf } from '@aoetl/runs';
import { reachProblems } from '@aoetl/sqlguard';
import type { PipelineRecord, PipelineVersionRecord, StoredPipelineSpec } from '@aoetl/store';
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
  PipelineVersionPage,
  PipelineVersionResponse,
  RollbackBody,
  VersionDiff,
  VersionDiffParams,
  VersionParams,
  problems,
} from '../schemas.js';
import { unifiedDiff } from './artifacts.js';
import { plannedSpec } from '../planning.js';

export function pipelineView(p: PipelineRecord) {
  return {
    id: p.id,
    name: p.name,
    version: p.version,
    spec: p.spec,
    artifactSha256: p.artifactSha256,
    approvalRequired: p.approvalRequired,
    createdBy: p.createdBy,
    createdAt: p.createdAt,
    updatedBy: p.updatedBy,
    updatedAt: p.updatedAt,
  };
}

export function versionView(v: PipelineVersionRecord) {
  return {
    pipelineId: v.pipelineId,
    version: v.version,
    spec: v.spec,
    artifactSha256: v.artifactSha256,
    approvalRequired: v.approvalRequired,
    rollbackOf: v.rollbackOf,
    createdBy: v.createdBy,
    createdAt: v.createdAt,
  };
}

/** A spec as diffable text: indented JSON without its code (the code is diffed on its own); an instruction shows. */
function specText(spec: StoredPipelineSpec): string {
  const { transform, ...rest } = spec;
  const shown = transform.kind === 'instruction' ? { kind: transform.kind, text: transform.text, columns: transform.columns } : { kind: transform.kind };
  // (a sql transform's query is diffed as its code, like Python)
  return `${JSON.stringify({ ...rest, transform: shown }, null, 2)}\n`;
}

/** The diffed file name of a version's code: its Python, or a sql transform's query. */
const codeFile = (version: number, spec: StoredPipelineSpec) => `v${version}/transform.${transformLanguage(spec.transform) === 'sql' ? 'sql' : 'py'}`;

/** Where a version number in a route came from, for errors that name the field `version`. */
const versionFields = (path: string) => ({ version: path, cursor: 'querystring/cursor' });

/** Cross-field rules the JSON schema cannot say; each names its field. */
async function checkSpec(store: GatewayQueries, tenant: string, spec: StoredPipelineSpec): Promise<void> {
  const found: { field: string; message: string }[] = [];
  const allowed = { source: [] as readonly string[], target: [] as readonly string[] };
  for (const side of ['source', 'target'] as const) {
    const connection = await store.connections.get(tenant, spec[side].connection).catch((err: unknown) => {
      if (err instanceof NotFoundError) return null;
      throw err;
    });
    if (!connection) found.push({ field: `body/${side}/connection`, message: `unknown connection '${spec[side].connection}'` });
    else allowed[side] = connection.allowedSchemas;
  }
  if (found.length === 0) {
    found.push(
      ...(await reachProblems({
        source: { table: spec.source.table, allowedSchemas: allowed.source },
        target: { table: spec.target.table, allowedSchemas: allowed.target },
        transform: spec.transform,
      })),
    );
  }
  if (spec.transform.kind === 'sql' && (spec.chunks ?? 1) > 1) {
    found.push({ field: 'body/chunks', message: 'a sql transform runs as one chunk (one query); omit chunks or set 1' });
  }
  if (spec.target.mode === 'merge' && !spec.target.keys?.length) {
    found.push({ field: 'body/target/keys', message: 'mode merge needs at least one key column' });
  }
  const sourceColumns = spec.transform.kind === 'instruction' ? spec.transform.columns.map((c) => c.name) : undefined;
  found.push(...loadSpecProblems(spec, outputOf(spec), sourceColumns));
  if (found.length > 0) {
    throw new InputError(found.map((p) => `${p.field}: ${p.message}`).join('; '), { details: found });
  }
}

export const pipelineRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, approvalRequiredModes }) => {
  app.post(
    '/v1/pipelines',
    {
      preHandler: requirePermission('submit'),
      schema: {
        operationId: 'createPipeline',
        summary: 'Create a pipeline',
        tags: ['pipelines'],
        body: PipelineBody,
        response: { 201: PipelineResponse, ...problems(409, 422, ...BODY_PROBLEMS) },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      const spec = plannedSpec(request.body, principal.id);
      await checkSpec(store, principal.tenant, spec);
      const approvalRequired = changeNeedsApproval(null, spec, approvalRequiredModes);
      const created = await withRequestFields(PIPELINE_BODY_FIELDS, () =>
        store.pipelines.create(principal.tenant, spec, principal.id, { approvalRequired }),
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
        summary:
          'Replace a pipeline\'s spec as a new immutable version (runs already submitted keep theirs; a target change or a ' +
          'switch to replace makes its runs wait for an approval when approvals are enabled)',
        tags: ['pipelines'],
        params: IdParams,
        body: PipelineBody,
        response: { 200: PipelineResponse, ...problems(409, 422, ...BODY_PROBLEMS) },
      },
    },
    async (request) => {
      const principal = request.principal!;
      const current = await store.pipelines.get(principal.tenant, request.params.id); // 404 before 400 for another tenant's id
      const spec = plannedSpec(request.body, principal.id);
      await checkSpec(store, principal.tenant, spec);
      const approvalRequired = changeNeedsApproval(current.spec, spec, approvalRequiredModes);
      const updated = await withRequestFields(PIPELINE_BODY_FIELDS, () =>
        store.pipelines.update(principal.tenant, current.id, spec, principal.id, { expectedVersion: current.version, approvalRequired }),
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
        summary: 'Delete a pipeline (its runs and artifacts stay readable; runs already submitted still execute their snapshot)',
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

  app.get(
    '/v1/pipelines/:id/versions',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'listPipelineVersions',
        summary: 'List a pipeline\'s immutable versions, newest first',
        tags: ['pipelines'],
        params: IdParams,
        querystring: PageOnlyQuery,
        response: { 200: PipelineVersionPage, ...problems() },
      },
    },
    async (request) => {
      const page = await withRequestFields(LIST_FIELDS, () =>
        store.pipelines.versions(request.principal!.tenant, request.params.id, { limit: request.query.limit ?? 20, cursor: request.query.cursor }),
      );
      return { items: page.items.map(versionView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/pipelines/:id/versions/:version',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'getPipelineVersion',
        summary: 'Get one version of a pipeline with its spec and artifact hash',
        tags: ['pipelines'],
        params: VersionParams,
        response: { 200: PipelineVersionResponse, ...problems() },
      },
    },
    async (request) =>
      versionView(
        await withRequestFields(versionFields('params/version'), () =>
          store.pipelines.version(request.principal!.tenant, request.params.id, request.params.version),
        ),
      ),
  );

  app.get(
    '/v1/pipelines/:id/versions/:from/diff/:to',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'diffPipelineVersions',
        summary: 'What changed from one version of a pipeline to another: its spec and its code, as unified diffs',
        tags: ['pipelines'],
        params: VersionDiffParams,
        response: { 200: VersionDiff, ...problems() },
      },
    },
    async (request) => {
      const tenant = request.principal!.tenant;
      const { id, from, to } = request.params;
      const [a, b] = await Promise.all([
        withRequestFields(versionFields('params/from'), () => store.pipelines.version(tenant, id, from)),
        withRequestFields(versionFields('params/to'), () => store.pipelines.version(tenant, id, to)),
      ]);
      return {
        pipelineId: id,
        from: { version: a.version, artifactSha256: a.artifactSha256 },
        to: { version: b.version, artifactSha256: b.artifactSha256 },
        spec: unifiedDiff(`v${a.version}/spec.json`, `v${b.version}/spec.json`, specText(a.spec), specText(b.spec)),
        code: unifiedDiff(codeFile(a.version, a.spec), codeFile(b.version, b.spec), transformSource(a.spec.transform), transformSource(b.spec.transform)),
      };
    },
  );

  app.post(
    '/v1/pipelines/:id/rollback',
    {
      preHandler: requirePermission('submit'),
      bodyLimit: 4 * 1024,
      schema: {
        operationId: 'rollbackPipeline',
        summary:
          'Restore an earlier version\'s spec and code as a new version (its runs need an approval when the pipeline does, ' +
          'or when the rollback changes the target or switches to replace)',
        tags: ['pipelines'],
        params: IdParams,
        body: RollbackBody,
        response: { 200: PipelineResponse, ...problems(409, ...BODY_PROBLEMS) },
      },
    },
    async (request) => {
      const principal = request.principal!;
      const current = await store.pipelines.get(principal.tenant, request.params.id);
      const restored = await withRequestFields(versionFields('body/version'), () =>
        store.pipelines.version(principal.tenant, current.id, request.body.version),
      );
      // The spec and code come back; the name stays (it identifies the pipeline, and may be taken by another since).
      const spec = { ...restored.spec, name: current.name };
      // The connections' schema reach may have narrowed since that version was written.
      await checkSpec(store, principal.tenant, spec);
      const approvalRequired = changeNeedsApproval(current.spec, spec, approvalRequiredModes);
      const rolledBack = await store.pipelines.update(principal.tenant, current.id, spec, principal.id, {
        expectedVersion: current.version,
        approvalRequired,
        rollbackOf: restored.version,
      });
      request.log.info({ pipelineId: rolledBack.id, version: rolledBack.version, rollbackOf: restored.version }, 'pipeline rolled back');
      return pipelineView(rolledBack);
    },
  );
};
