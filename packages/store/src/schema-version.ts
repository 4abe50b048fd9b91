import { UpstreamError } from '@aoetl/contracts';

/**
 * The schema this code needs: the newest migration in packages/store/migrations, and every relation the
 * migrations up to it create (schema-version.test.ts keeps both in step with the migration files).
 * Service roles cannot read the migrations table (pgmigrations), so readiness looks the relations up in the
 * catalog (to_regclass needs no privilege on them).
 */
export const REQUIRED_MIGRATION = '1765500000000_connection-schema-reach';
export const REQUIRED_RELATIONS: readonly string[] = [
  'connections',
  'pipelines',
  'runs',
  'run_steps',
  'artifacts',
  'outbox',
  'run_chunks',
  'approvals',
  'pipeline_versions',
  'audit_ledger',
  'audit_heads',
  'run_lineage',
  'artifact_provenance',
];

/** Something that runs a query: a pg Pool, PoolClient or Client. */
export interface SchemaQueryable {
  query<R extends Record<string, unknown>>(sql: string, params: unknown[]): Promise<{ rows: R[] }>;
}

/** The schema has not been migrated as far as this code needs (readiness fails with this; the process keeps running). */
export class SchemaNotReadyError extends UpstreamError {}

/** The required relations missing from `schema` (empty = ready). */
export async function missingRelations(db: SchemaQueryable, schema = 'public'): Promise<string[]> {
  const { rows } = await db.query<{ relation: string }>(
    `SELECT r AS relation FROM unnest($1::text[]) WITH ORDINALITY AS t(r, i)
      WHERE to_regclass(format('%I.%I', $2::text, r)) IS NULL ORDER BY i`,
    [REQUIRED_RELATIONS, schema],
  );
  return rows.map((r) => r.relation);
}

/** Throws SchemaNotReadyError ("schema not ready: …", shown by /readyz) unless every required relation exists. */
export async function assertSchemaReady(db: SchemaQueryable, schema = 'public'): Promise<void> {
  const missing = await missingRelations(db, schema);
  if (missing.length > 0) {
    throw new SchemaNotReadyError(
      `schema not ready: ${missing.join(', ')} missing in schema ${schema}; apply the migrations up to ${REQUIRED_MIGRATION} ` +
        `(the chart's migrations Job, or deploy/local/migrate.sh)`,
    );
  }
}
