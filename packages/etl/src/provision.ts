import type pg from 'pg';
import { DDL_TYPE_PATTERN, RESERVED_SCHEMA, type OutputColumn, type TaskTarget } from '@aoetl/contracts';
import { quoteIdent, quoteQualified } from './sql.js';
import { LoadFailure } from './failure.js';

/** A column of an existing table: its name, its type (as `format_type` spells it) and the type's oid. */
export interface TableColumn {
  name: string;
  type: string;
  oid: number;
}

/** An output column with its type resolved by the target database. */
export interface ResolvedColumn extends TableColumn {
  /** The type as declared (what DDL uses). */
  declared: string;
}

/** How a target differs from the transform's output. */
export interface Drift {
  /** Output columns the target lacks: additive, applied as new nullable columns. */
  added: ResolvedColumn[];
  /** Target columns (without a default, not generated) the output no longer has: breaking. */
  dropped: TableColumn[];
  /** Columns of both whose base types differ: breaking. */
  retyped: { name: string; from: string; to: ResolvedColumn }[];
}

const DDL_TYPE = new RegExp(DDL_TYPE_PATTERN);

/**
 * The target's columns that a load must fill: not dropped, not generated, without a default (null when the table
 * does not exist or the load role cannot see it).
 */
export async function requiredColumns(client: pg.Client, table: string): Promise<TableColumn[] | null> {
  const { rows } = await client.query<{ attname: string; type: string; oid: number; exists: boolean }>(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::int AS oid
     FROM pg_attribute a
     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND NOT a.atthasdef
     ORDER BY a.attnum`,
    [quoteQualified(table)],
  );
  const exists = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [quoteQualified(table)]);
  if (!exists.rows[0]?.ok) return null;
  return rows.map((r) => ({ name: r.attname, type: r.type, oid: r.oid }));
}

/** Resolves the output's type names in the target database; a name it does not know fails the run (`input`). */
export async function resolveOutput(client: pg.Client, output: readonly OutputColumn[]): Promise<ResolvedColumn[]> {
  const bad = output.find((c) => !DDL_TYPE.test(c.type));
  if (bad) throw new LoadFailure({ code: 'input', message: `output column ${bad.name}: '${bad.type}' is not a type name` });
  const { rows } = await client.query<{ i: number; oid: number | null; type: string | null }>(
    `SELECT i::int, to_regtype(t)::oid::int AS oid, format_type(to_regtype(t)::oid, NULL) AS type
     FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i`,
    [output.map((c) => c.type)],
  );
  return output.map((c, i) => {
    const r = rows[i];
    if (!r || r.oid === null || r.type === null) {
      throw new LoadFailure({ code: 'input', message: `output column ${c.name}: type '${c.type}' does not exist in the target database` });
    }
    return { name: c.name, type: r.type, oid: r.oid, declared: c.type };
  });
}

/** The drift from `target` to `output` (pure). Types compare by base type: a changed type modifier is not drift. */
export function driftOf(target: readonly TableColumn[], output: readonly ResolvedColumn[]): Drift {
  const byName = new Map(target.map((c) => [c.name, c]));
  const outNames = new Set(output.map((c) => c.name));
  return {
    added: output.filter((c) => !byName.has(c.name)),
    dropped: target.filter((c) => !outNames.has(c.name)),
    retyped: output.flatMap((c) => {
      const t = byName.get(c.name);
      return t && t.oid !== c.oid ? [{ name: c.name, from: t.type, to: c }] : [];
    }),
  };
}

/** The DDL that creates `table` with the output's columns (and the merge keys as its primary key). */
export function createTableStatement(table: string, output: readonly ResolvedColumn[], keys: readonly string[]): string {
  const cols = output.map((c) => `${quoteIdent(c.name)} ${c.declared}`);
  if (keys.length > 0) cols.push(`PRIMARY KEY (${keys.map(quoteIdent).join(', ')})`);
  return `CREATE TABLE ${quoteQualified(table)} (${cols.join(', ')})`;
}

export function describeDrift(d: Drift): string {
  return [
    ...d.dropped.map((c) => `column ${c.name} (${c.type}) is no longer in the output`),
    ...d.retyped.map((c) => `column ${c.name} is ${c.from} in the target, ${c.to.type} in the output`),
  ].join('; ');
}

export interface Provisioned {
  created: boolean;
  added: string[];
  dropped: string[];
  retyped: string[];
}

/**
 * Brings the target in line with the transform's output, in the caller's (the commit's) transaction, so nothing of
 * it is visible unless the run commits: creates a missing table when `create` is set (`target_missing` otherwise);
 * adds output columns the target lacks as nullable columns; fails with `schema_drift` on breaking drift (target
 * columns the output lost, changed base types) unless `allowBreakingDrift`, which drops and retypes them.
 */
export async function provisionTarget(tgt: pg.Client, target: TaskTarget, output: readonly OutputColumn[]): Promise<Provisioned> {
  const schema = target.table.split('.')[0] ?? '';
  if (RESERVED_SCHEMA.test(schema)) throw new LoadFailure({ code: 'input', message: `aoetl never creates or alters tables in schema ${schema}` });
  const resolved = await resolveOutput(tgt, output);
  const missingKeys = target.keys.filter((k) => !resolved.some((c) => c.name === k));
  if (missingKeys.length) throw new LoadFailure({ code: 'input', message: `merge keys not in the output columns: ${missingKeys.join(', ')}` });
  const current = await requiredColumns(tgt, target.table);
  if (current === null) {
    if (!target.create) throw new LoadFailure({ code: 'target_missing', message: `target table ${target.table} does not exist or is not visible` });
    await tgt.query(createTableStatement(target.table, resolved, target.mode === 'merge' ? target.keys : []));
    return { created: true, added: [], dropped: [], retyped: [] };
  }
  // Added columns are judged against every column, defaults included: a column with a default is not "new".
  const all = await tgt.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [quoteQualified(target.table)],
  );
  const existing = new Set(all.rows.map((r) => r.attname));
  const drift = driftOf(current, resolved);
  drift.added = drift.added.filter((c) => !existing.has(c.name));
  if ((drift.dropped.length > 0 || drift.retyped.length > 0) && !target.allowBreakingDrift) {
    throw new LoadFailure({
      code: 'schema_drift',
      message: `breaking schema drift on ${target.table}: ${describeDrift(drift)}; change the transform, or set target.allowBreakingDrift (its runs need an approval)`,
    });
  }
  const table = quoteQualified(target.table);
  for (const c of drift.added) await tgt.query(`ALTER TABLE ${table} ADD COLUMN ${quoteIdent(c.name)} ${c.declared}`);
  for (const c of drift.dropped) await tgt.query(`ALTER TABLE ${table} DROP COLUMN ${quoteIdent(c.name)}`);
  for (const c of drift.retyped) {
    await tgt.query(`ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(c.name)} TYPE ${c.to.declared} USING ${quoteIdent(c.name)}::${c.to.declared}`);
  }
  return { created: false, added: drift.added.map((c) => c.name), dropped: drift.dropped.map((c) => c.name), retyped: drift.retyped.map((c) => c.name) };
}
