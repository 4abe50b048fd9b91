import { stringify as toYaml } from 'yaml';
import type { OutputFormat } from './config';

export interface Column {
  /** dotted path into the row, e.g. `spec.source.table` */
  key: string;
  header?: string;
}

export interface TableOptions {
  columns?: (string | Column)[];
  color?: boolean;
  /** cells longer than this are cut with … */
  maxWidth?: number;
}

const bold = (s: string, on: boolean) => (on ? `\u001b[1m${s}\u001b[22m` : s);

export function getPath(row: unknown, path: string): unknown {
  let value: unknown = row;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

export function cell(value: unknown, maxWidth = 60): string {
  let s: string;
  if (value === null || value === undefined) s = '';
  else if (typeof value === 'string') s = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') s = String(value);
  else if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) s = value.join(', ');
  else s = JSON.stringify(value);
  s = s.replace(/\s*\n\s*/g, ' ');
  return s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s;
}

/** Rows as aligned columns; the columns are the given ones, else every key of the first rows. */
export function table(rows: readonly unknown[], opts: TableOptions = {}): string {
  const columns: Column[] = (opts.columns ?? inferColumns(rows)).map((c) => (typeof c === 'string' ? { key: c } : c));
  if (columns.length === 0) return rows.length === 0 ? '(none)\n' : '';
  const headers = columns.map((c) => (c.header ?? c.key).toUpperCase());
  const body = rows.map((row) => columns.map((c) => cell(getPath(row, c.key), opts.maxWidth)));
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [bold(line(headers), Boolean(opts.color)), ...body.map(line)];
  if (rows.length === 0) out.push('(none)');
  return `${out.join('\n')}\n`;
}

function inferColumns(rows: readonly unknown[]): string[] {
  const keys = new Set<string>();
  for (const row of rows.slice(0, 50)) if (row && typeof row === 'object') for (const k of Object.keys(row)) keys.add(k);
  return [...keys];
}

/** One object as KEY  value lines. */
export function keyValues(obj: Record<string, unknown>, opts: { color?: boolean; maxWidth?: number } = {}): string {
  const keys = Object.keys(obj);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${bold(k.padEnd(width), Boolean(opts.color))}  ${cell(obj[k], opts.maxWidth ?? 100)}`).join('\n') + '\n';
}

/** Renders a value in the chosen format: JSON and YAML are the API's own shape; a table is for people. */
export function render(value: unknown, format: OutputFormat, opts: TableOptions = {}): string {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  if (format === 'yaml') return toYaml(value, { lineWidth: 0 });
  if (Array.isArray(value)) return table(value, opts);
  if (value && typeof value === 'object') {
    if (opts.columns) return table([value], opts);
    return keyValues(value as Record<string, unknown>, opts);
  }
  return `${cell(value, Number.MAX_SAFE_INTEGER)}\n`;
}
