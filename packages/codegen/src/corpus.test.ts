// Runs every task of the transform-task corpus (test/fixtures/transform-tasks) through the offline
// planner and the real sandbox harness (local python3, the harness's stdin protocol, no Docker), and
// compares the output rows with the expected rows written by hand.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runHarness, type Value } from '../test/support/harness.js';
import { planFromInstruction, type Column } from './index.js';

const ROOT = resolve(__dirname, '../../..');
const CORPUS = join(ROOT, 'test/fixtures/transform-tasks');

interface Task {
  id: string;
  instruction: string;
  columns: Column[];
  input: Record<string, Value>[];
  expected: Record<string, Value>[] | null;
  expectRefusal?: string;
  ordered?: boolean;
}

function loadCorpus(): Task[] {
  return readdirSync(CORPUS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      const data = JSON.parse(readFileSync(join(CORPUS, f), 'utf8')) as Task | Task[];
      return Array.isArray(data) ? data : [data];
    });
}

function expectedText(v: Value | undefined): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v);
}

type Outcome = { kind: 'exact' } | { kind: 'refused'; clause: string; reason: string } | { kind: 'wrong'; detail: string };

function runTask(task: Task): Outcome {
  const result = planFromInstruction(task.instruction, task.columns);
  if (task.expectRefusal !== undefined) {
    if (result.ok) return { kind: 'wrong', detail: `planned instead of refusing "${task.expectRefusal}"` };
    if (!result.clause.toLowerCase().includes(task.expectRefusal.toLowerCase()))
      return { kind: 'wrong', detail: `refused clause "${result.clause}" does not name "${task.expectRefusal}"` };
    return { kind: 'refused', clause: result.clause, reason: result.reason };
  }
  if (!result.ok) return { kind: 'refused', clause: result.clause, reason: result.reason };
  let out: { columns: string[]; rows: (string | null)[][] };
  try {
    out = runHarness(result.code, task.columns, task.input);
  } catch (err) {
    return { kind: 'wrong', detail: (err as Error).message };
  }
  const expected = (task.expected ?? []).map((row) => out.columns.map((c) => expectedText(row[c])));
  const expectedKeys = new Set(Object.keys(task.expected?.[0] ?? {}));
  if (task.expected && task.expected.length > 0 && (expectedKeys.size !== out.columns.length || !out.columns.every((c) => expectedKeys.has(c))))
    return { kind: 'wrong', detail: `columns ${JSON.stringify(out.columns)}, expected ${JSON.stringify([...expectedKeys])}` };
  const key = (r: (string | null)[]): string => JSON.stringify(r);
  const got = task.ordered ? out.rows.map(key) : out.rows.map(key).sort();
  const want = task.ordered ? expected.map(key) : expected.map(key).sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) return { kind: 'wrong', detail: `rows ${JSON.stringify(got)}\n   expected ${JSON.stringify(want)}` };
  return { kind: 'exact' };
}

// A stricter reading of the sandbox's static policy, applied to every generated code.
const STRICT_CHECK = String.raw`
import ast, json, sys
ALLOWED = {"re", "hashlib", "datetime", "decimal", "json", "math", "zoneinfo"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals", "locals",
                   "vars", "type", "input", "breakpoint", "help", "memoryview", "exit", "quit", "object", "super"}
FORBIDDEN_ATTRS = {"mro", "format", "format_map", "vformat", "modules", "system", "popen", "sys", "os", "builtins",
                   "code", "types", "operator", "io", "gc", "inspect", "codecs", "importlib", "subprocess", "socket"}
def problems(code):
    tree = ast.parse(code)
    out = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) or any(a.name not in ALLOWED or a.asname for a in node.names):
                out.append("import %s" % ast.dump(node))
    if not any(isinstance(n, ast.FunctionDef) and n.name == "transform" for n in tree.body):
        out.append("no top-level transform")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node not in tree.body:
            out.append("nested import")
        if isinstance(node, (ast.ClassDef, ast.Global, ast.Nonlocal, ast.AsyncFunctionDef, ast.Await, ast.Yield)):
            out.append(type(node).__name__)
        for field in ("id", "name", "arg", "attr"):
            v = getattr(node, field, None)
            if isinstance(v, str) and v.startswith("_"):
                out.append("underscore name %s" % v)
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRS:
            out.append("attribute %s" % node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            out.append("call %s" % node.func.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            out.append("dunder string")
    return out
print(json.dumps([problems(c) for c in json.load(sys.stdin)]))
`;

const tasks = loadCorpus();

describe('transform-task corpus through the offline planner and the real harness', () => {
  it('has at least 45 tasks with unique ids, about 5 of them out of the grammar', () => {
    expect(tasks.length).toBeGreaterThanOrEqual(45);
    expect(new Set(tasks.map((t) => t.id)).size).toBe(tasks.length);
    expect(tasks.filter((t) => t.expectRefusal !== undefined).length).toBeGreaterThanOrEqual(5);
  });

  it('plans ≥ 90% exactly, refuses the rest naming the clause, and is never silently wrong', () => {
    const outcomes = tasks.map((t) => ({ task: t, outcome: runTask(t) }));
    const exact = outcomes.filter((o) => o.outcome.kind === 'exact').length;
    const refused = outcomes.filter((o) => o.outcome.kind === 'refused');
    const wrong = outcomes.filter((o) => o.outcome.kind === 'wrong');
    const solvable = tasks.filter((t) => t.expectRefusal === undefined).length;
    const lines = [
      `corpus: ${exact}/${solvable} exact, ${refused.length} refused with clause, ${wrong.length} silently wrong`,
      ...refused.map((o) => `  refused ${o.task.id}: "${(o.outcome as { clause: string }).clause}" (${(o.outcome as { reason: string }).reason})`),
      ...wrong.map((o) => `  WRONG ${o.task.id}: ${(o.outcome as { detail: string }).detail}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    expect(wrong.map((o) => o.task.id)).toEqual([]);
    expect(exact / solvable).toBeGreaterThanOrEqual(0.9);
  });

  it('generates plain code for the strictest static policy (allowlisted top-level imports, no dunders, no getattr, no classes)', () => {
    const codes = tasks.flatMap((t) => {
      const r = planFromInstruction(t.instruction, t.columns);
      return r.ok ? [r.code] : [];
    });
    const proc = spawnSync('python3', ['-I', '-S', '-c', STRICT_CHECK], { input: JSON.stringify(codes), encoding: 'utf8', timeout: 60_000 });
    expect(proc.stderr).toBe('');
    expect(JSON.parse(proc.stdout)).toEqual(codes.map(() => []));
  });

  it('is deterministic: planning a task twice gives byte-identical code', () => {
    for (const task of tasks.filter((t) => t.expectRefusal === undefined)) {
      const a = planFromInstruction(task.instruction, task.columns);
      const b = planFromInstruction(task.instruction, structuredClone(task.columns));
      expect(a).toEqual(b);
    }
  });
});
