import { InputError } from '@aoetl/contracts';
import type { Column, Condition, Operation } from './types.js';

/** Coarse kind of a PostgreSQL type name, as the harness decodes it. */
export type TypeKind = 'int' | 'numeric' | 'float' | 'bool' | 'date' | 'timestamp' | 'text';

export function typeKind(type: string): TypeKind {
  const name = type.trim().toLowerCase().replace(/^pg_catalog\./, '').split('(')[0]!.trim();
  if (['int2', 'int4', 'int8', 'smallint', 'integer', 'bigint', 'int', 'oid'].includes(name)) return 'int';
  if (name === 'numeric' || name === 'decimal') return 'numeric';
  if (['float4', 'float8', 'real', 'double precision', 'float'].includes(name)) return 'float';
  if (name === 'bool' || name === 'boolean') return 'bool';
  if (name === 'date') return 'date';
  if (name.startsWith('timestamp')) return 'timestamp';
  return 'text';
}

function conditionColumns(c: Condition): string[] {
  return c.kind === 'all' || c.kind === 'any' ? c.conditions.flatMap(conditionColumns) : [c.column];
}

/** Columns an operation reads. */
export function readColumns(op: Operation): string[] {
  switch (op.op) {
    case 'filter':
      return conditionColumns(op.condition);
    case 'select':
    case 'drop':
    case 'text':
    case 'drop_null':
    case 'concat':
      return op.columns;
    case 'rename':
      return [op.from];
    case 'dedupe':
      return [...op.keys, ...(op.keep.rule === 'lowest' || op.keep.rule === 'highest' ? [op.keep.column] : [])];
    case 'aggregate':
      return [...op.groupBy, ...op.measures.flatMap((m) => (m.column === null ? [] : [m.column]))];
    case 'sort':
      return op.keys.map((k) => k.column);
    default:
      return [op.column];
  }
}

/** Columns an operation creates (which must not exist yet). */
function createdColumns(op: Operation): string[] {
  switch (op.op) {
    case 'rename':
      return [op.to];
    case 'split':
      return op.into;
    case 'concat':
    case 'date_part':
      return [op.target];
    case 'hash':
    case 'phone':
    case 'date_trunc':
      return op.target === op.column ? [] : [op.target];
    default:
      return [];
  }
}

function put(columns: Column[], name: string, type: string): Column[] {
  return columns.some((c) => c.name === name)
    ? columns.map((c) => (c.name === name ? { name, type } : c))
    : [...columns, { name, type }];
}

/**
 * The columns after `op`, from the columns before it. Throws InputError when the operation reads a
 * column that does not exist or creates one that already exists.
 */
export function applySchema(op: Operation, columns: Column[]): Column[] {
  const byName = new Map(columns.map((c) => [c.name, c]));
  for (const name of readColumns(op)) {
    if (!byName.has(name)) throw new InputError(`unknown column "${name}"`, { details: [{ field: name, message: 'no such column' }] });
  }
  for (const name of createdColumns(op)) {
    if (byName.has(name)) throw new InputError(`column "${name}" already exists`, { details: [{ field: name, message: 'already exists' }] });
  }
  const typeOf = (name: string): string => byName.get(name)!.type;
  switch (op.op) {
    case 'select':
      return op.columns.map((n) => byName.get(n)!);
    case 'drop':
      return columns.filter((c) => !op.columns.includes(c.name));
    case 'rename':
      return columns.map((c) => (c.name === op.from ? { name: op.to, type: c.type } : c));
    case 'cast': {
      const type = { integer: 'int8', numeric: op.scale === null ? 'numeric' : `numeric(38,${op.scale})`, boolean: 'bool', date: 'date', timestamp: 'timestamptz' }[op.to];
      return put(columns, op.column, type);
    }
    case 'fill_null':
      return columns;
    case 'mask':
      return put(columns, op.column, 'text');
    case 'hash':
    case 'phone':
      return put(columns, op.target, 'text');
    case 'split':
      return op.into.reduce((cols, name) => put(cols, name, 'text'), columns);
    case 'concat':
      return put(columns, op.target, 'text');
    case 'date_part':
      return put(columns, op.target, 'int4');
    case 'date_trunc': {
      const kind = typeKind(typeOf(op.column));
      return put(columns, op.target, kind === 'date' ? 'date' : kind === 'timestamp' ? 'timestamptz' : 'text');
    }
    case 'aggregate': {
      const out = op.groupBy.map((n) => byName.get(n)!);
      const seen = new Set(op.groupBy);
      for (const m of op.measures) {
        if (seen.has(m.as)) throw new InputError(`output column "${m.as}" is named twice`, { details: [{ field: m.as, message: 'duplicate output column' }] });
        seen.add(m.as);
        out.push({ name: m.as, type: measureType(m.fn, m.column === null ? null : typeOf(m.column)) });
      }
      return out;
    }
    default:
      return columns;
  }
}

function measureType(fn: string, columnType: string | null): string {
  if (fn === 'count') return 'int8';
  const kind = columnType === null ? 'int' : typeKind(columnType);
  if (fn === 'min' || fn === 'max') return columnType ?? 'text';
  if (kind === 'float') return 'float8';
  if (fn === 'sum' && kind === 'int') return 'int8';
  return 'numeric';
}

/** Columns after the whole plan. */
export function outputSchema(plan: readonly Operation[], inputColumns: readonly Column[]): Column[] {
  return plan.reduce<Column[]>((cols, op) => applySchema(op, cols), [...inputColumns]);
}
