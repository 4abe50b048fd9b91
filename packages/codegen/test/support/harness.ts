// Runs generated code through the real sandbox harness with local python3 (its stdin protocol, no Docker).
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Column } from '../../src/index.js';

const HARNESS = join(resolve(__dirname, '../../../..'), 'docker/sandbox-python/harness.py');

export type Value = string | number | boolean | null;

/** A JSON value as a PostgreSQL COPY text field. */
export function copyText(v: Value | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

export function fromCopyText(field: string): string | null {
  if (field === '\\N') return null;
  return field.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r' })[c] ?? c);
}

/** Runs code over rows with the real harness; returns the output columns and rows as COPY text values. */
export function runHarness(code: string, columns: Column[], rows: Record<string, Value>[]): { columns: string[]; rows: (string | null)[][] } {
  const header = JSON.stringify({ code, columns: columns.map((c) => c.name), types: columns.map((c) => c.type) });
  const body = rows.map((r) => columns.map((c) => copyText(r[c.name])).join('\t') + '\n').join('');
  const proc = spawnSync('python3', ['-I', '-S', HARNESS], { input: `${header}\n${body}`, encoding: 'utf8', timeout: 60_000 });
  if (proc.error) throw proc.error;
  if (proc.status !== 0) throw new Error(`harness exit ${proc.status}: ${proc.stderr.trim().split('\n').pop()}`);
  const lines = proc.stdout.split('\n');
  const out = (JSON.parse(lines[0]!) as { columns: string[] }).columns;
  return { columns: out, rows: lines.slice(1, -1).map((l) => l.split('\t').map(fromCopyText)) };
}

