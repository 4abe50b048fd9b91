/** Quotes an identifier for PostgreSQL (names are also pattern-checked by the contracts). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table` → `"schema"."table"`. */
export function quoteQualified(name: string): string {
  const parts = name.split('.');
  if (parts.length !== 2 || parts.some((p) => p.length === 0)) throw new Error(`expected schema.table, got '${name}'`);
  return parts.map(quoteIdent).join('.');
}

/** The statement that moves staged rows into the target, per write mode. */
export function mergeStatement(target: string, columns: string[], mode: 'append' | 'merge' | 'replace', keys: string[]): string {
  const cols = columns.map(quoteIdent).join(', ');
  const insert = `INSERT INTO ${quoteQualified(target)} (${cols}) SELECT ${cols} FROM aoetl_stage`;
  if (mode !== 'merge') return insert;
  const nonKeys = columns.filter((c) => !keys.includes(c));
  const conflict = `ON CONFLICT (${keys.map(quoteIdent).join(', ')})`;
  if (nonKeys.length === 0) return `${insert} ${conflict} DO NOTHING`;
  return `${insert} ${conflict} DO UPDATE SET ${nonKeys.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`;
}
