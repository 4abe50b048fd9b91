import { InputError } from '@aoetl/contracts';

/** Quotes an identifier for PostgreSQL (names are also pattern-checked by the contracts). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table` → `"schema"."table"`. */
export function quoteQualified(name: string): string {
  const parts = name.split('.');
  if (parts.length !== 2 || parts.some((p) => p.length === 0)) throw new InputError(`expected schema.table, got '${name}'`);
  return parts.map(quoteIdent).join('.');
}

/** Where a run's chunk is staged in the target database before the commit. */
export function stagingTable(runId: string, chunk: number): string {
  return `aoetl_staging.r_${runId.replace(/-/g, '')}_${chunk}`;
}

/** `WHERE` predicate selecting chunk `index` of `count`: rows whose key hashes to `index` modulo `count`. */
export function chunkPredicate(keyColumns: string[], index: number, count: number, tableAlias = 't'): string {
  if (count === 1) return 'true';
  const key = keyColumns.length > 0 ? `row(${keyColumns.map(quoteIdent).join(', ')})::text` : `${tableAlias}::text`;
  return `mod(abs(hashtext(${key})::bigint), ${count}) = ${index}`;
}

/**
 * The statement that moves staged rows into the target, per write mode. For merge, one row per key survives:
 * the one that sorts first on `orderBy` (the remaining orderable columns), so the result does not depend on how
 * the source was chunked.
 */
export function mergeStatement(
  target: string,
  columns: string[],
  mode: 'append' | 'merge' | 'replace',
  keys: string[],
  source: string,
  orderBy: string[] = [],
): string {
  const cols = columns.map(quoteIdent).join(', ');
  if (mode !== 'merge') return `INSERT INTO ${quoteQualified(target)} (${cols}) SELECT ${cols} FROM ${source} s`;
  const keyList = keys.map(quoteIdent).join(', ');
  const order = [...keys, ...orderBy.filter((c) => !keys.includes(c))].map(quoteIdent).join(', ');
  const select = `SELECT DISTINCT ON (${keyList}) ${cols} FROM ${source} s ORDER BY ${order}`;
  const nonKeys = columns.filter((c) => !keys.includes(c));
  const conflict = `ON CONFLICT (${keyList})`;
  const action =
    nonKeys.length === 0
      ? 'DO NOTHING'
      : `DO UPDATE SET ${nonKeys.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`;
  return `INSERT INTO ${quoteQualified(target)} (${cols}) ${select} ${conflict} ${action}`;
}
