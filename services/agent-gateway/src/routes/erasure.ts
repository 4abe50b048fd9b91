import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '@aoetl/auth';
import { NotFoundError, UpstreamError } from '@aoetl/contracts';
import { descriptorOf } from '@aoetl/store';
import type { RouteOptions } from '../app.js';
import { withRequestFields } from '../request-context.js';
import { ErasureRequest, ErasureResponse, problems } from '../schemas.js';

const ERASURE_FIELDS = { 'subject.column': 'body/subject/column', 'subject.value': 'body/subject/value' } as const;

export const erasureRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, governance }) => {
  app.post(
    '/v1/erasure',
    {
      preHandler: requirePermission('admin'),
      schema: {
        operationId: 'eraseSubject',
        summary: 'GDPR erasure: delete a subject\'s rows from every target table the tenant\'s pipelines wrote',
        description: 'One transaction per table; answers per-table counts. The ledger records a keyed hash of the subject, never its value.',
        tags: ['audit'],
        body: ErasureRequest,
        response: { 200: ErasureResponse, ...problems(503) },
      },
    },
    async (request) => {
      if (!governance) throw new UpstreamError('erasure is not configured on this gateway (no Vault)', { retryable: false });
      const { tenant, id: actor } = request.principal!;
      const { subject } = request.body;
      // Every table the tenant's runs wrote; one whose connection has since been removed cannot be reached (null).
      const lineage = await store.lineage.targets(tenant);
      const resolved = await Promise.all(
        lineage.map(async (l) => {
          const connection = await store.connections.get(tenant, l.connection).catch((err: unknown) => {
            if (err instanceof NotFoundError) return null;
            throw err;
          });
          return { lineage: l, target: connection ? { connection: descriptorOf(connection), table: l.table } : null };
        }),
      );
      const targets = resolved.flatMap((r) => (r.target ? [r.target] : []));
      const unreachable = resolved.filter((r) => !r.target).map((r) => ({ connection: r.lineage.connection, table: r.lineage.table, deleted: null }));
      const subjectHash = await governance.subjectHash(subject);
      const erased = await withRequestFields(ERASURE_FIELDS, () => governance.erase(targets, subject, { runId: `erasure-${request.id}`, tenant }));
      const tables = [...erased, ...unreachable];
      const ledgerSeq = await store.ledger.append({
        tenant,
        actor,
        action: 'erasure.completed',
        object: `subject:${subjectHash}`,
        payload: { column: subject.column, subjectHmac: subjectHash, tables: tables.map((t) => ({ ...t })) },
      });
      request.log.info({ tenant, subjectHash, tables: tables.length }, 'subject erased');
      return { subjectHash, tables, ledgerSeq };
    },
  );
};
