import { applySchema, typeKind } from './schema.js';
import type { Column, Condition, Literal, Operation } from './types.js';

/** A quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteTable(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

function sqlLiteral(value: Literal): string | null {
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null;
  if (value.includes('\0')) return null;
  return `'${value.replace(/'/g, "''")}'`;
}

/** Python's str.strip() (all whitespace, not only spaces as btrim). */
function trim(expr: string): string {
  return `regexp_replace(${expr}, '^\\s+|\\s+$', '', 'g')`;
}

const NUMERIC_KINDS = new Set(['int', 'numeric', 'float']);

/** The SQL boolean expression for a condition, or null when its semantics differ from the Python step. */
function conditionSql(c: Condition, types: Map<string, string>): string | null {
  if (c.kind === 'all' || c.kind === 'any') {
    const parts = c.conditions.map((x) => conditionSql(x, types));
    return parts.some((p) => p === null) ? null : `(${parts.join(c.kind === 'all' ? ' AND ' : ' OR ')})`;
  }
  const kind = typeKind(types.get(c.column)!);
  const col = quoteIdent(c.column);
  if (c.kind === 'null') {
    const missing = c.blank && kind === 'text' ? `(${col} IS NULL OR ${trim(col)} = '')` : `${col} IS NULL`;
    return c.negate ? `NOT ${missing}` : missing;
  }
  if (c.kind === 'text') {
    if (kind !== 'text' || c.match === 'regex') return null;
    const lit = sqlLiteral(c.ignoreCase ? c.value.toLowerCase() : c.value)!;
    const subject = c.ignoreCase ? `lower(${col})` : col;
    const n = [...c.value].length;
    const test = c.match === 'contains' ? `strpos(${subject}, ${lit}) > 0` : c.match === 'starts_with' ? `left(${subject}, ${n}) = ${lit}` : `right(${subject}, ${n}) = ${lit}`;
    return c.negate ? `NOT (${test})` : test;
  }
  const values = c.kind === 'in' ? c.values : [c.value];
  const fits = values.every((v) => (typeof v === 'number' ? NUMERIC_KINDS.has(kind) : typeof v === 'boolean' ? kind === 'bool' : kind === 'text'));
  if (!fits) return null;
  const ci = c.ignoreCase && kind === 'text';
  const subject = ci ? `lower(${col})` : col;
  const lits = values.map((v) => sqlLiteral(ci && typeof v === 'string' ? v.toLowerCase() : v));
  if (lits.some((l) => l === null)) return null;
  if (c.kind === 'in') return `${subject} ${c.negate ? 'NOT IN' : 'IN'} (${lits.join(', ')})`;
  return `${subject} ${c.operator === '!=' ? '<>' : c.operator} ${lits[0]!}`;
}

/** Select-list and clauses for one operation over the columns before it, or null when not expressible. */
function stepSql(op: Operation, columns: Column[], last: boolean): { select: string[]; where?: string; groupBy?: string[]; orderBy?: string } | null {
  const types = new Map(columns.map((c) => [c.name, c.type]));
  const all = columns.map((c) => quoteIdent(c.name));
  const replace = (name: string, expr: string): string[] => columns.map((c) => (c.name === name ? `${expr} AS ${quoteIdent(name)}` : quoteIdent(c.name)));
  switch (op.op) {
    case 'filter': {
      const cond = conditionSql(op.condition, types);
      if (cond === null) return null;
      return { select: all, where: op.keep ? cond : `NOT COALESCE(${cond}, FALSE)` };
    }
    case 'select':
      return { select: op.columns.map(quoteIdent) };
    case 'drop':
      return { select: columns.filter((c) => !op.columns.includes(c.name)).map((c) => quoteIdent(c.name)) };
    case 'rename':
      return { select: columns.map((c) => (c.name === op.from ? `${quoteIdent(c.name)} AS ${quoteIdent(op.to)}` : quoteIdent(c.name))) };
    case 'text': {
      if (op.fn === 'title' || op.columns.some((c) => typeKind(types.get(c)!) !== 'text')) return null;
      const fn = op.fn;
      const f = (col: string): string =>
        fn === 'trim' ? trim(col) : fn === 'collapse' ? `btrim(regexp_replace(${col}, '\\s+', ' ', 'g'))` : `${fn}(${col})`;
      return { select: columns.map((c) => (op.columns.includes(c.name) ? `${f(quoteIdent(c.name))} AS ${quoteIdent(c.name)}` : quoteIdent(c.name))) };
    }
    case 'fill_null': {
      const kind = typeKind(types.get(op.column)!);
      const fits = typeof op.value === 'number' ? NUMERIC_KINDS.has(kind) : typeof op.value === 'boolean' ? kind === 'bool' : kind === 'text';
      const lit = sqlLiteral(op.value);
      if (!fits || lit === null) return null;
      const col = quoteIdent(op.column);
      return { select: replace(op.column, kind === 'text' ? `CASE WHEN ${col} IS NULL OR ${trim(col)} = '' THEN ${lit} ELSE ${col} END` : `COALESCE(${col}, ${lit})`) };
    }
    case 'drop_null':
      return {
        select: all,
        where: op.columns
          .map((c) => (typeKind(types.get(c)!) === 'text' ? `(${quoteIdent(c)} IS NOT NULL AND ${trim(quoteIdent(c))} <> '')` : `${quoteIdent(c)} IS NOT NULL`))
          .join(' AND '),
      };
    case 'hash': {
      if (typeKind(types.get(op.column)!) !== 'text') return null;
      const digest = `encode(sha256(convert_to(lower(${trim(quoteIdent(op.column))}), 'UTF8')), 'hex')`;
      return { select: op.target === op.column ? replace(op.column, digest) : [...all, `${digest} AS ${quoteIdent(op.target)}`] };
    }
    case 'aggregate': {
      const measures: string[] = [];
      for (const m of op.measures) {
        if (m.fn === 'avg') return null; // the scale of avg() differs between PostgreSQL and Python's Decimal
        if (m.column === null) measures.push(`count(*) AS ${quoteIdent(m.as)}`);
        else {
          const kind = typeKind(types.get(m.column)!);
          if (m.fn === 'sum' && !NUMERIC_KINDS.has(kind)) return null;
          measures.push(`${m.fn}(${quoteIdent(m.column)}) AS ${quoteIdent(m.as)}`);
        }
      }
      return { select: [...op.groupBy.map(quoteIdent), ...measures], groupBy: op.groupBy.map(quoteIdent) };
    }
    case 'sort':
      if (!last || op.keys.some((k) => typeKind(types.get(k.column)!) === 'text')) return null;
      return { select: all, orderBy: op.keys.map((k) => `${quoteIdent(k.column)} ${k.descending ? 'DESC' : 'ASC'} NULLS LAST`).join(', ') };
    default:
      return null;
  }
}

/**
 * A PostgreSQL SELECT equivalent to the plan over `sourceTable` (schema.table), for push-down, or
 * null when an operation has no exactly equivalent SQL here (casts, dedupe, masks, phones, splits,
 * dates, avg, regex, title case, sorting text or sorting before another step...). Identifiers are
 * quoted; literals are standard-conforming string literals.
 */
export function sqlFromPlan(plan: readonly Operation[], sourceTable: string, columns: readonly Column[]): string | null {
  let sql = `SELECT ${columns.map((c) => quoteIdent(c.name)).join(', ')} FROM ${quoteTable(sourceTable)}`;
  let current: Column[] = [...columns];
  for (const [i, op] of plan.entries()) {
    const step = stepSql(op, current, i === plan.length - 1);
    if (step === null) return null;
    current = applySchema(op, current);
    sql =
      `SELECT ${step.select.join(', ')} FROM (${sql}) AS s${i + 1}` +
      (step.where ? ` WHERE ${step.where}` : '') +
      (step.groupBy && step.groupBy.length > 0 ? ` GROUP BY ${step.groupBy.join(', ')}` : '') +
      (step.orderBy ? ` ORDER BY ${step.orderBy}` : '');
  }
  return sql;
}
