/**
 * The transform-task corpus (test/fixtures/transform-tasks) sent through POST /v1/transforms/preview: every task's
 * instruction planned by the gateway and run on its input rows in the real sandbox, the output compared with the
 * expected rows written by hand. Shared by the gateway's integration test (inject) and the e2e test (the running
 * services).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './stack.js';

type Value = string | number | boolean | null;
interface Task {
  id: string;
  instruction: string;
  columns: { name: string; type: string }[];
  input: Record<string, Value>[];
  expected: Record<string, Value>[] | null;
  expectRefusal?: string;
  ordered?: boolean;
}
export type CorpusOutcome = { kind: 'exact' } | { kind: 'refused'; clause: string } | { kind: 'wrong'; detail: string };
/** Answers one preview request (an identity, a body) with its status and JSON body. */
export type PreviewCall = (body: unknown) => Promise<{ status: number; body: any }>;

const CORPUS = join(REPO, 'test/fixtures/transform-tasks');

export function loadCorpus(): Task[] {
  return readdirSync(CORPUS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      const data = JSON.parse(readFileSync(join(CORPUS, f), 'utf8')) as Task | Task[];
      return Array.isArray(data) ? data : [data];
    });
}

const asText = (v: Value | undefined): string | null => (v === null || v === undefined ? null : typeof v === 'boolean' ? (v ? 't' : 'f') : String(v));

async function runTask(task: Task, preview: PreviewCall): Promise<CorpusOutcome> {
  const res = await preview({ instruction: task.instruction, sample: { rows: task.input, columns: task.columns } });
  if (res.status === 422) {
    const clause = String(res.body?.errors?.[0]?.message ?? '');
    if (task.expectRefusal !== undefined && !clause.toLowerCase().includes(task.expectRefusal.toLowerCase()))
      return { kind: 'wrong', detail: `refusal "${clause}" does not name "${task.expectRefusal}"` };
    return clause ? { kind: 'refused', clause } : { kind: 'wrong', detail: '422 without a clause' };
  }
  if (task.expectRefusal !== undefined) return { kind: 'wrong', detail: `answered ${res.status} instead of refusing "${task.expectRefusal}"` };
  if (res.status !== 200) return { kind: 'wrong', detail: `status ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}` };
  const columns = (res.body.outputColumns as { name: string }[]).map((c) => c.name);
  const expectedKeys = new Set(Object.keys(task.expected?.[0] ?? {}));
  if (task.expected && task.expected.length > 0 && (expectedKeys.size !== columns.length || !columns.every((c) => expectedKeys.has(c))))
    return { kind: 'wrong', detail: `columns ${JSON.stringify(columns)}, expected ${JSON.stringify([...expectedKeys])}` };
  const key = (r: (string | null)[]) => JSON.stringify(r);
  const got = (res.body.rows as Record<string, string | null>[]).map((r) => key(columns.map((c) => r[c] ?? null)));
  const want = (task.expected ?? []).map((r) => key(columns.map((c) => asText(r[c]))));
  if (!task.ordered) {
    got.sort();
    want.sort();
  }
  if (JSON.stringify(got) !== JSON.stringify(want)) return { kind: 'wrong', detail: `rows ${JSON.stringify(got)}\n   expected ${JSON.stringify(want)}` };
  return { kind: 'exact' };
}

export interface CorpusReport {
  exact: number;
  solvable: number;
  refused: { id: string; clause: string }[];
  wrong: { id: string; detail: string }[];
  /** `corpus: N/M exact, K refused with clause, W silently wrong`, then one line per refusal and per wrong task. */
  text: string;
}

/** Runs every task, one at a time (the preview is rate-limited and each one runs a sandbox). */
export async function runCorpus(preview: PreviewCall): Promise<CorpusReport> {
  const tasks = loadCorpus();
  const outcomes: { id: string; outcome: CorpusOutcome }[] = [];
  for (const task of tasks) outcomes.push({ id: task.id, outcome: await runTask(task, preview) });
  const exact = outcomes.filter((o) => o.outcome.kind === 'exact').length;
  const refused = outcomes.flatMap((o) => (o.outcome.kind === 'refused' ? [{ id: o.id, clause: o.outcome.clause }] : []));
  const wrong = outcomes.flatMap((o) => (o.outcome.kind === 'wrong' ? [{ id: o.id, detail: o.outcome.detail }] : []));
  const solvable = tasks.filter((t) => t.expectRefusal === undefined).length;
  const text = [
    `corpus: ${exact}/${solvable} exact, ${refused.length} refused with clause, ${wrong.length} silently wrong`,
    ...refused.map((r) => `  refused ${r.id}: ${r.clause}`),
    ...wrong.map((w) => `  WRONG ${w.id}: ${w.detail}`),
  ].join('\n');
  return { exact, solvable, refused, wrong, text };
}
