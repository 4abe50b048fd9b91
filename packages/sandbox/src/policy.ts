import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { sandboxEvent, type PolicyReason, type PolicyRefusal, type SandboxEvent } from './results.js';
import type { SandboxDriver, SandboxLimits, SandboxResult } from './types.js';

/**
 * Modules a transform may import: data handling only (no I/O, processes, network or introspection).
 * docker/sandbox-python/policy_check.py holds the same list (its tests keep them equal); the harness
 * enforces that list at run time whatever `allowedModules` the static check was given.
 */
export const DEFAULT_ALLOWED_MODULES: readonly string[] = Object.freeze([
  'base64',
  'bisect',
  'calendar',
  'collections',
  'collections.abc',
  'datetime',
  'decimal',
  'fractions',
  'functools',
  'hashlib',
  'heapq',
  'hmac',
  'itertools',
  'json',
  'math',
  'numbers',
  'random',
  're',
  'statistics',
  'string',
  'textwrap',
  'typing',
  'unicodedata',
  'uuid',
  'zoneinfo',
]);

/**
 * First line of the code that makes the sandbox harness run its built-in static check
 * (docker/sandbox-python/policy_check.py) instead of user code; the JSON configuration follows.
 */
export const POLICY_CHECK_MARKER = '#!aoetl:policy-check\n';

export const DEFAULT_POLICY_MAX_BYTES = 64 * 1024;
export const DEFAULT_POLICY_MAX_NODES = 20_000;

export interface PolicyOptions {
  /** Importable modules; default DEFAULT_ALLOWED_MODULES. */
  allowedModules?: readonly string[];
  /** Largest code accepted, in UTF-8 bytes; default 64 KiB. */
  maxBytes?: number;
  /** Most syntax nodes accepted; default 20,000. */
  maxNodes?: number;
  /** runId label of the checking sandbox run; default "policy-check". */
  runId?: string;
  /** Limits of the checking run; default: the driver's, with a 30 s timeout. */
  limits?: Partial<SandboxLimits>;
  /** Called with a policy_refused event (violation) for each refused code. */
  onEvent?: (event: SandboxEvent) => void;
}

export type PolicyResult = { ok: true } | { ok: false; reasons: PolicyReason[] };

/**
 * The static policy check of a Python transform, the first of three layers (then the harness's
 * restricted builtins and audit hook, then the container). The code is parsed by Python's own `ast`
 * inside a sandbox run of `driver` (no network, read-only, limits), by the checker baked into the
 * image (docker/sandbox-python/policy_check.py) — never executed — and refused, with a reason per finding, when it:
 * imports a module outside the allowlist (or relatively, or with *); uses eval, exec, compile, open,
 * input, breakpoint, help, globals, locals, vars, memoryview, getattr/setattr/delattr/hasattr with a
 * non-literal or private name, or type() with 3 arguments; names anything with a double underscore
 * (`__import__`, `__builtins__`, `__class__`, `__subclasses__`, `__globals__`...; only common special
 * methods may be defined in classes); reaches private attributes, frames, code objects or modules
 * through attributes (`gi_frame`, `f_globals`, `typing.sys`, `uuid.os`, `.mro`, `.format` of a
 * non-literal...); has format fields that look up attributes or nested fields in a format spec; names
 * a dunder in a string literal; uses typing.get_type_hints, ForwardRef, functools.singledispatch or
 * .register (they evaluate annotation strings as code) or a string annotation; uses `type` other than
 * as a one-argument call (an alias, type(x)(...)); uses a metaclass; is over the size or node limits; does not parse; or defines no top-level
 * transform(rows). Rejects (throws) only when the sandbox cannot run at all.
 */
export async function checkPolicy(driver: SandboxDriver, code: string, options: PolicyOptions = {}): Promise<PolicyResult> {
  const [result] = await checkPolicies(driver, [code], options);
  return result!;
}

/** checkPolicy for several codes in one sandbox run; results in the order of `codes`. */
export async function checkPolicies(driver: SandboxDriver, codes: readonly string[], options: PolicyOptions = {}): Promise<PolicyResult[]> {
  const maxBytes = options.maxBytes ?? DEFAULT_POLICY_MAX_BYTES;
  const results: (PolicyResult | undefined)[] = codes.map((code) => precheck(code, maxBytes));
  const pending = codes.map((code, idx) => ({ code, idx })).filter(({ idx }) => results[idx] === undefined);
  if (pending.length > 0) {
    const found = await runChecker(driver, pending, { ...options, maxBytes });
    for (const { code, idx } of pending) results[idx] = found(idx, code);
  }
  const runId = options.runId ?? 'policy-check';
  return results.map((result) => {
    if (!result!.ok && options.onEvent) {
      const refusal: PolicyRefusal = { kind: 'policy_refused', reasons: result!.reasons };
      try {
        options.onEvent(sandboxEvent(runId, refusal));
      } catch {
        // an event handler must not change the verdict
      }
    }
    return result!;
  });
}

/** The PolicyRefusal result for a refused check (e.g. for classifyResult or sandboxEvent). */
export function policyRefusal(result: PolicyResult): PolicyRefusal | undefined {
  return result.ok ? undefined : { kind: 'policy_refused', reasons: result.reasons };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Checks that need no parser; undefined = go on to the parser. */
function precheck(code: string, maxBytes: number): PolicyResult | undefined {
  const size = Buffer.byteLength(code, 'utf8');
  if (size > maxBytes) return refuse('size', 0, `the code is ${size} bytes; the limit is ${maxBytes}`);
  if (code.includes('\0')) return refuse('syntax', lineOf(code, code.indexOf('\0')), 'the code contains a NUL character');
  const surrogate = LONE_SURROGATE.exec(code);
  if (surrogate) return refuse('syntax', lineOf(code, surrogate.index), 'the code contains an unpaired surrogate (not valid UTF-8)');
  return undefined;
}

async function runChecker(
  driver: SandboxDriver,
  items: { code: string; idx: number }[],
  options: PolicyOptions & { maxBytes: number },
): Promise<(idx: number, code: string) => PolicyResult> {
  const config = {
    allowedModules: [...(options.allowedModules ?? DEFAULT_ALLOWED_MODULES)],
    maxBytes: options.maxBytes,
    maxNodes: options.maxNodes ?? DEFAULT_POLICY_MAX_NODES,
  };
  const source = POLICY_CHECK_MARKER + JSON.stringify(config);
  const input = Readable.from(items.map(({ code, idx }) => `${idx}\t${escapeCopyText(code)}\n`));
  const chunks: Buffer[] = [];
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  const result = await driver.run({
    runId: options.runId ?? 'policy-check',
    code: source,
    columns: ['idx', 'code'],
    types: ['int4', 'text'],
    outputColumns: ['idx', 'rule', 'line', 'message'],
    input,
    output,
    limits: { timeoutMs: 30_000, maxOutputBytes: 16 * 1024 * 1024, ...options.limits },
  });
  if (result.kind !== 'ok') {
    const failed = refuse('check_failed', 0, `the policy check could not finish (${describe(result)}); the code is refused`);
    return () => failed;
  }
  const byIdx = new Map<number, { digest?: string; reasons: PolicyReason[] }>();
  const text = Buffer.concat(chunks).toString('utf8');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [idx, rule, lineNo, message] = line.split('\t').map(unescapeCopyText);
    const entry = byIdx.get(Number(idx)) ?? { reasons: [] };
    byIdx.set(Number(idx), entry);
    if (rule === '#sha256') entry.digest = message;
    else entry.reasons.push({ rule: rule ?? 'unknown', line: Number(lineNo) || 0, message: message ?? '' });
  }
  return (idx, code) => {
    const entry = byIdx.get(idx);
    const digest = createHash('sha256').update(code, 'utf8').digest('hex');
    if (entry?.digest !== digest) return refuse('check_failed', 0, 'the policy check did not see the code that was sent; the code is refused');
    return entry.reasons.length === 0 ? { ok: true } : { ok: false, reasons: entry.reasons };
  };
}

function refuse(rule: string, line: number, message: string): PolicyResult {
  return { ok: false, reasons: [{ rule, line, message }] };
}

function lineOf(code: string, index: number): number {
  let line = 1;
  for (let i = code.indexOf('\n'); i >= 0 && i < index; i = code.indexOf('\n', i + 1)) line++;
  return line;
}

function describe(result: SandboxResult): string {
  switch (result.kind) {
    case 'transform_error':
      return `${result.errorType}: ${result.message}`.slice(0, 300);
    case 'exit_error':
      return result.reason.slice(0, 300);
    default:
      return result.kind;
  }
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One field in PostgreSQL COPY text format. */
export function escapeCopyText(value: string): string {
  return value.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!);
}

const COPY_UNESCAPES: Record<string, string> = { '\\': '\\', n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v' };

/** One COPY text field's escapes undone (the caller handles `\\N`). */
export function unescapeCopyText(value: string): string {
  return value.replace(/\\(.)/g, (_m, c: string) => COPY_UNESCAPES[c] ?? c);
}
