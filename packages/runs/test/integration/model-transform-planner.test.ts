/**
 * The run's transform choice with the real pieces, in process: the openai SDK adapter against the real local model
 * server (deploy/local/model-server/server.mjs, started here on a free port, scripted per test), the masked prompt,
 * and the dry run of the model's code by a real etl-agent of the stack (the previews stream, as the orchestrator's
 * Redis user: its ACL must allow it), with the real static policy and sandbox. Hostile code is rejected with the
 * policy or validation reason; good code is chosen, cached, and a repeated request makes 0 upstream calls; model
 * faults and an exhausted budget fall back to the offline planner with the reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { busPreviewSandbox } from '@aoetl/bus';
import { planFromInstruction } from '@aoetl/codegen';
import { ModelPlanner, OpenAiLlmClient, llmMetrics, type CachedPlan } from '@aoetl/llm';
import { InMemoryBudgetLedger } from '@aoetl/llm/testing';
import { Registry, createLogger } from '@aoetl/observability';
import type { RunRecord } from '@aoetl/store';
import { stackEnv, stackRedis } from '@aoetl/testing';
import { ModelTransformPlanner } from '../../src/index';

jest.setTimeout(180_000);

const SERVER = join(__dirname, '../../../../deploy/local/model-server/server.mjs');
const API_KEY = 'runs-test-key';
const MODEL = 'aoetl-local';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const COLUMNS = [{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }, { name: 'note', type: 'text' }];
const TEXT = 'Lower-case the emails.';
const offline = planFromInstruction(TEXT, COLUMNS);
if (!offline.ok) throw new Error('the fixture instruction must map');
const OFFLINE_CODE = offline.code;
const GOOD = 'def transform(rows):\n    return [{"id": r["id"], "email": (r["email"] or "").lower(), "note": r["note"]} for r in rows]\n';

let server: ChildProcess;
let url = '';
const redis = stackRedis('orchestrator', stackEnv('test').AOETL_REDIS_ORCHESTRATOR_PASSWORD);
const registry = new Registry();
const metrics = llmMetrics(registry);

async function admin(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}
const script = (...responses: unknown[]) => admin('POST', '/__script', { responses });
const plan = (code: string, outputColumns = COLUMNS) => ({ plan: { language: 'python', code, outputColumns, explanation: 'scripted' } });

let runs = 0;
/** A run of an instruction pipeline asking for the model planner; a distinct target per run (a distinct prompt). */
function run(tenant = 'acme'): RunRecord {
  runs += 1;
  const provenance = { planner: 'rules' as const, plannerVersion: 'rules-1', instructionSha256: sha(TEXT), sampleSha256: null, codeSha256: sha(OFFLINE_CODE), requestedBy: 'alice' };
  return {
    id: `00000000-0000-4000-8000-${String(runs).padStart(12, '0')}`, pipelineId: '00000000-0000-4000-8000-000000000000', tenant, status: 'planning',
    approvalRequired: false, submittedBy: 'alice', cancelledBy: null, requestId: `runs-test-${runs}`, pipelineVersion: 1,
    snapshot: {
      name: 'p', source: { connection: 'crm-source', table: 'crm.people' },
      target: { connection: 'warehouse', table: `silver.people_${Date.now()}_${runs}`, mode: 'merge', keys: ['id'] },
      transform: { kind: 'instruction', text: TEXT, columns: COLUMNS, planner: 'llm', code: OFFLINE_CODE, explanation: '', provenance },
    },
    artifactSha256: sha(OFFLINE_CODE), plan: null, planning: null, options: {}, watermark: null, checks: null, chunksDispatched: 0, chunks: 1, rowsIn: null, rowsOut: null, bytesOut: null, error: null,
    createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', startedAt: null, finishedAt: null,
  };
}

let planner: ModelTransformPlanner;
beforeAll(async () => {
  server = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, AOETL_MODEL_SERVER_PORT: '0', AOETL_MODEL_SERVER_API_KEY: API_KEY },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: server.stdout! });
  url = await new Promise<string>((resolve, reject) => {
    server.once('exit', (code) => reject(new Error(`model server exited with ${code}`)));
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'listening' && entry.url) resolve(entry.url);
    });
  });
  const client = new OpenAiLlmClient({
    baseUrl: `${url}/v1`, apiKey: API_KEY, model: MODEL, prices: { [MODEL]: { inputPerMillion: 2, outputPerMillion: 8 } },
    budget: new InMemoryBudgetLedger({ globex: 0 }), timeoutMs: 1_500, maxAttempts: 3, retryBaseMs: 20, maxRetryDelayMs: 2_000,
  });
  const plans = new Map<string, CachedPlan>();
  const cache = { get: async (t: string, k: string) => plans.get(`${t}/${k}`) ?? null, put: async (t: string, k: string, p: CachedPlan) => void plans.set(`${t}/${k}`, p) };
  const model = new ModelPlanner({ client, dryRun: busPreviewSandbox(redis), cache, metrics });
  planner = new ModelTransformPlanner({ model, defaultPlanner: 'rules', metrics, logger: createLogger({ name: 'test', level: 'silent' }) });
});
afterAll(async () => {
  redis.disconnect();
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
});
beforeEach(async () => {
  await admin('DELETE', '/__script');
  await admin('DELETE', '/__requests');
});

test('good code passes the real policy and dry run and is chosen with its provenance; the same request again makes 0 upstream calls', async () => {
  await script(plan(GOOD));
  const r = run();
  const choice = await planner.choose(r, { requestId: r.requestId });
  expect(choice).toMatchObject({ ok: true, code: GOOD, sha256: sha(GOOD), planning: { planner: 'llm', requested: 'llm', cached: false, fallbacks: [] } });
  expect(choice.planning.provenance).toMatchObject({ model: MODEL, parameters: { temperature: 0, seed: 1 }, codeSha256: sha(GOOD), requestedBy: 'alice' });
  expect(await admin('GET', '/__requests')).toHaveLength(1);

  const again = await planner.choose(r, { requestId: r.requestId });
  expect(again).toMatchObject({ ok: true, sha256: sha(GOOD), planning: { planner: 'llm', cached: true } });
  expect(await admin('GET', '/__requests')).toHaveLength(1);
  expect(await registry.getSingleMetricAsString('aoetl_llm_cache_hits_total')).toMatch(/tenant="acme"} 1/);
});

test.each([
  ['imports os', 'import os\ndef transform(rows):\n    os.system("id")\n    return rows\n', undefined, 'llm_policy_refused'],
  ['imports socket', 'import socket\ndef transform(rows):\n    socket.socket()\n    return rows\n', undefined, 'llm_policy_refused'],
  ['imports subprocess', 'import subprocess\ndef transform(rows):\n    subprocess.run(["id"])\n    return rows\n', undefined, 'llm_policy_refused'],
  ['reads a file', 'def transform(rows):\n    return [dict(r, note=open("/etc/passwd").read()) for r in rows]\n', undefined, 'llm_policy_refused'],
  // a policy may refuse these before they run (a hardened checker), else the sandbox stops them: either is a rejection
  ['loops forever', 'def transform(rows):\n    while True:\n        pass\n', undefined, 'llm_policy_refused|llm_dry_run_failed'],
  ['writes a huge output', 'def transform(rows):\n    return [{"id": i, "email": "x" * 1000000, "note": ""} for i in range(50)]\n', undefined, 'llm_policy_refused|llm_dry_run_failed'],
  ['raises on the sample', 'def transform(rows):\n    return [{"id": r["id"], "email": r["email"], "note": int(r["note"])} for r in rows]\n', undefined, 'llm_dry_run_failed'],
  ['ignores the target columns', 'def transform(rows):\n    return [{"junk": 1} for r in rows]\n', [{ name: 'junk', type: 'integer' }], 'llm_output_mismatch'],
])('the model %s: the run fails with the reason', async (_name, code, outputColumns, expected) => {
  await script(plan(code, outputColumns));
  const r = run();
  const choice = await planner.choose(r, { requestId: r.requestId });
  expect(choice).toMatchObject({ ok: false, error: { code: expect.stringMatching(new RegExp(`^(${expected})$`)) }, planning: { planner: 'llm' } });
});

test.each([
  ['429 with Retry-After', Array.from({ length: 3 }, () => ({ status: 429, headers: { 'retry-after': '0' }, error: 'slow down' })), 'llm_unavailable'],
  ['timeouts', Array.from({ length: 3 }, () => ({ ...plan(GOOD), delayMs: 3_000 })), 'llm_unavailable'],
  ['malformed JSON', [{ content: '{"language": "python", "code": ' }], 'llm_bad_answer'],
])('%s: bounded retries, then the offline planner with the reason', async (_name, responses, code) => {
  await script(...responses);
  const r = run();
  const choice = await planner.choose(r, { requestId: r.requestId });
  expect(choice).toMatchObject({ ok: true, code: OFFLINE_CODE, sha256: r.artifactSha256, planning: { planner: 'rules', requested: 'llm', fallbacks: [{ from: 'llm', to: 'rules', code }] } });
  expect((await admin('GET', '/__script')).pending).toBe(0);
});

test('a tenant past its budget falls back without a request', async () => {
  const r = run('globex');
  const choice = await planner.choose(r, { requestId: r.requestId });
  expect(choice).toMatchObject({ ok: true, planning: { planner: 'rules', fallbacks: [{ code: 'llm_budget_exceeded' }] } });
  expect(await admin('GET', '/__requests')).toHaveLength(0);
  expect(await registry.getSingleMetricAsString('aoetl_llm_fallbacks_total')).toMatch(/reason="llm_budget_exceeded"} 1/);
});
