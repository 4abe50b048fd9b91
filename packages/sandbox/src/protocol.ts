/**
 * The sandbox data protocol spoken with docker/sandbox-python/harness.py:
 * stdin = one JSON header line + COPY text rows; stdout = one JSON header line + COPY text rows;
 * on failure the last stderr line is {"error": {...}} and the exit status is 3.
 */
import { SandboxError } from './errors.js';

export const HARNESS_COMMAND: readonly string[] = Object.freeze(['/usr/bin/python3', '-I', '-S', '/opt/aoetl/harness.py']);
export const HARNESS_ERROR_EXIT_CODE = 3;

export interface InputHeader {
  code: string;
  columns: string[];
  types: string[];
  /** Expected output columns, in order (optional). */
  outputColumns?: string[];
}

export interface HarnessError {
  type: string;
  message: string;
  traceback: string;
}

/** Thrown when the harness output does not follow the protocol. Not retryable: the same code would break it again. */
export class ProtocolViolation extends SandboxError {
  override readonly retryable = false;
}

/** The first stdin line. JSON.stringify escapes newlines, so this is exactly one line. */
export function encodeInputHeader(header: InputHeader): string {
  if (header.columns.length !== header.types.length) {
    throw new RangeError(`columns (${header.columns.length}) and types (${header.types.length}) differ in length`);
  }
  const line: Record<string, unknown> = { code: header.code, columns: header.columns, types: header.types };
  if (header.outputColumns) line.output_columns = header.outputColumns;
  return JSON.stringify(line) + '\n';
}

/** Parses the first stdout line: {"columns": [...]}; checks it against the expected columns if given. */
export function parseOutputHeader(line: string, expected?: readonly string[]): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ProtocolViolation(`output header is not JSON: ${line.slice(0, 200)}`);
  }
  const columns = (parsed as { columns?: unknown } | null)?.columns;
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string')) {
    throw new ProtocolViolation(`output header has no "columns" string list: ${line.slice(0, 200)}`);
  }
  if (expected && (columns.length !== expected.length || columns.some((c, i) => c !== expected[i]))) {
    throw new ProtocolViolation(`output columns ${JSON.stringify(columns)} differ from the expected ${JSON.stringify(expected)}`);
  }
  return columns;
}

/** Finds the structured error the harness writes as the last {"error": ...} line of stderr. */
export function parseHarnessError(stderr: string): HarnessError | undefined {
  const lines = stderr.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{"error"')) continue;
    try {
      const error = (JSON.parse(line) as { error?: Partial<HarnessError> }).error;
      if (error && typeof error.type === 'string' && typeof error.message === 'string') {
        return { type: error.type, message: error.message, traceback: typeof error.traceback === 'string' ? error.traceback : '' };
      }
    } catch {
      // a truncated or user-printed line: keep looking
    }
  }
  return undefined;
}

/**
 * The CPU time (ms) the harness reports after a successful run: the last non-empty line of stderr,
 * `{"usage": {"cpuMs": N}}` (whatever the user code printed comes before it). Undefined when absent.
 */
export function parseHarnessUsage(stderr: string): number | undefined {
  const last = stderr.trimEnd().split('\n').at(-1)?.trim() ?? '';
  if (!last.startsWith('{"usage"')) return undefined;
  try {
    const cpuMs = (JSON.parse(last) as { usage?: { cpuMs?: unknown } }).usage?.cpuMs;
    return typeof cpuMs === 'number' && Number.isInteger(cpuMs) && cpuMs >= 0 ? cpuMs : undefined;
  } catch {
    return undefined;
  }
}

/** Splits the stdout byte stream into the header line and the row bytes that follow. */
export class HeaderSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The header line (without newline), once complete. */
  header: string | undefined;

  constructor(private readonly maxHeaderBytes = 1024 * 1024) {}

  /** Feeds a chunk; returns the row bytes in it (empty while the header is incomplete). */
  push(chunk: Buffer): Buffer {
    if (this.header !== undefined) return chunk;
    const newline = chunk.indexOf(0x0a);
    if (newline < 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > this.maxHeaderBytes) {
        throw new ProtocolViolation(`no output header line within ${this.maxHeaderBytes} bytes`);
      }
      return Buffer.alloc(0);
    }
    this.pending.push(chunk.subarray(0, newline));
    this.header = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    return chunk.subarray(newline + 1);
  }
}

/** Keeps the last `maxBytes` bytes written to it (e.g. stderr). */
export class TailBuffer {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = 64 * 1024) {}

  push(chunk: Buffer): void {
    const joined = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.buffer = joined.length > this.maxBytes ? Buffer.from(joined.subarray(joined.length - this.maxBytes)) : joined;
  }

  toString(): string {
    return this.buffer.toString('utf8');
  }
}

/** Counts input rows: newlines, plus one for a last line without a newline. */
export class RowCounter {
  private newlines = 0;
  private lastByte = 0x0a;

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length === 0) return;
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) this.newlines++;
    this.lastByte = buf[buf.length - 1]!;
  }

  get rows(): number {
    return this.newlines + (this.lastByte === 0x0a ? 0 : 1);
  }
}
