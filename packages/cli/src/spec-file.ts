import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PipelineSpec } from '@aoetl/contracts';
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { isMap, LineCounter, parseDocument, type Document } from 'yaml';
import { CliError, EXIT } from './errors';

const checkPipeline = TypeCompiler.Compile(PipelineSpec);

/** A file position for messages: `file:line:col`. */
function at(file: string, lineCounter: LineCounter, offset: number): string {
  const { line, col } = lineCounter.linePos(offset);
  return `${file}:${line}:${col}`;
}

/** The offset of the deepest node that exists on a JSON pointer path (the parent when a key is missing). */
function offsetOf(doc: Document, pointer: string): number {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node: unknown = doc.contents;
  let offset = (doc.contents as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
  for (const part of parts) {
    if (!node || typeof node !== 'object' || !('get' in node)) break;
    const key: string | number = /^\d+$/.test(part) && !isMap(node) ? Number(part) : part;
    const pair = isMap(node) ? node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key) : undefined;
    const child = (node as { get(k: unknown, keepScalar: boolean): unknown }).get(key, true) as { range?: [number, number, number] } | undefined;
    if (!child) break;
    offset = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0] ?? child.range?.[0] ?? offset;
    node = child;
  }
  return offset;
}

/** Parses YAML (JSON is YAML too) and checks it against a schema; every error names the file's line. */
export function parseSpecText<T extends TSchema>(
  text: string,
  file: string,
  schema: T,
  check: (value: unknown) => boolean,
  errors: (value: unknown) => Iterable<{ path: string; message: string }>,
  expand: (value: unknown, doc: Document, lc: LineCounter) => unknown = (v) => v,
): Static<T> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const offset = syntax.pos[0];
    const message = syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new CliError(`${at(file, lineCounter, offset)}: invalid YAML: ${message}`, EXIT.usage);
  }
  const value = expand(doc.toJS(), doc, lineCounter);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError(`${file}:1:1: expected a mapping (an object) at the top of the file`, EXIT.usage);
  }
  if (check(value)) return value;
  const first = [...errors(value)][0];
  const path = first?.path || '/';
  const where = at(file, lineCounter, offsetOf(doc, path));
  throw new CliError(`${where}: ${path} ${first?.message ?? `does not match ${schema.$id ?? 'the schema'}`}`, EXIT.usage);
}

/**
 * Reads a pipeline spec file. Besides the API's PipelineSpec, `transform.file` may name a Python file
 * (relative to the spec file) whose text becomes `transform.code`.
 */
export function readPipelineFile(file: string): PipelineSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.usage);
  }
  return parsePipelineText(text, file);
}

export function parsePipelineText(text: string, file: string): PipelineSpec {
  return parseSpecText(
    text,
    file,
    PipelineSpec,
    (v) => checkPipeline.Check(v),
    (v) => checkPipeline.Errors(v),
    (value, doc, lc) => {
      const transform = (value as { transform?: Record<string, unknown> } | null)?.transform;
      if (!transform || typeof transform.file !== 'string') return value;
      const codeFile = resolve(dirname(file), transform.file);
      try {
        transform.code = readFileSync(codeFile, 'utf8');
      } catch (err) {
        throw new CliError(`${at(file, lc, offsetOf(doc, '/transform/file'))}: cannot read transform.file ${codeFile}: ${(err as NodeJS.ErrnoException).code ?? ''}`, EXIT.usage);
      }
      delete transform.file;
      return value;
    },
  );
}

/** Rows of a JSON Lines file (one JSON object per line; blank lines skipped). */
export function parseJsonLines(text: string, file: string): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new CliError(`${file}:${i + 1}: not JSON: ${(err as Error).message}`, EXIT.usage);
    }
    if (!row || typeof row !== 'object' || Array.isArray(row)) throw new CliError(`${file}:${i + 1}: each line must be a JSON object`, EXIT.usage);
    rows.push(row as Record<string, unknown>);
  });
  if (rows.length === 0) throw new CliError(`${file}: no rows`, EXIT.usage);
  return rows;
}
