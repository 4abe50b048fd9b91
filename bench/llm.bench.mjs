// The model planner's cache (docs/adr/0006-model-planner.md), measured in one run against a round trip to the local
// model server: (a) ModelPlanner.plan on a cache hit — mask the sample, build and hash the prompt, read the plan
// from the control database's llm_plans — (goal ≤ 5 ms); (b) one OpenAiLlmClient.plan request to the local
// OpenAI-compatible server (scripted answers, no delay: the protocol, JSON schema output and HTTP, no model time).
// Prints medians, p95 and the ratio; asserts nothing. Needs the stack (make up) and a build.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO, envFile, median, percentile } from './lib.mjs';

const require = createRequire(join(REPO, 'services/orchestrator/package.json'));
const { ModelPlanner, OpenAiLlmClient, storedPlanCache } = require('@aoetl/llm');
const { InMemoryBudgetLedger } = require('@aoetl/llm/testing');
const { Store, createPool } = require('@aoetl/store');

const N = Number(process.env.BENCH_LLM_N ?? 200);
const test = envFile('test');
const orch = envFile('orchestrator');
const server = test.AOETL_MODEL_SERVER_URL;
if (!server) throw new Error('AOETL_MODEL_SERVER_URL missing from .state/env/test.env: the model server is not up (make up)');

const plan = {
  language: 'python',
  code: 'def transform(rows):\n    return [{"id": r["id"], "email": (r["email"] or "").lower()} for r in rows]\n',
  outputColumns: [{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }],
  explanation: 'Lower-cases the email.',
};
const admin = async (method, path, body) => {
  const res = await fetch(`${server}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}`);
  return res.json();
};

const client = new OpenAiLlmClient({
  baseUrl: test.AOETL_LLM_BASE_URL,
  apiKey: test.AOETL_MODEL_SERVER_API_KEY,
  model: test.AOETL_LLM_MODEL,
  prices: { [test.AOETL_LLM_MODEL]: { inputPerMillion: 2, outputPerMillion: 8 } },
  budget: new InMemoryBudgetLedger(),
  maxAttempts: 1,
});
const pool = createPool({ url: orch.AOETL_DATABASE_URL, password: orch.AOETL_DATABASE_PASSWORD, applicationName: 'bench-llm' });
const store = new Store(pool, 'bench');
// the dry run is not measured: a plan made here is accepted as it comes (only the cache read is timed below)
const dryRun = { run: async (req) => ({ ok: true, columns: ['id', 'email'], rows: req.rows.map((r) => [r[0], r[1]]) }) };
const planner = new ModelPlanner({ client, dryRun, cache: storedPlanCache(store.llmPlans) });

const rows = Array.from({ length: 20 }, (_, i) => ({ id: String(i + 1), email: `Person${i}@Corp.example.com` }));
const input = {
  tenant: 'bench',
  requestedBy: 'bench',
  requestId: 'bench',
  instruction: `Lower-case the emails (bench ${Date.now()})`,
  columns: [{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }],
  rows,
  target: { table: 'silver.bench', keys: ['id'] },
};

await admin('DELETE', '/__script');
await admin('POST', '/__script', { responses: Array.from({ length: N + 1 }, () => ({ plan })) });
const first = await planner.plan(input); // fills the cache
if (first.status !== 'planned') throw new Error(`the first plan was not made: ${JSON.stringify(first)}`);

const roundTrips = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  await client.plan({ tenant: 'bench', messages: [{ role: 'user', content: `bench ${i}` }] });
  roundTrips.push(performance.now() - t0);
}
const hits = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  const out = await planner.plan(input);
  hits.push(performance.now() - t0);
  if (out.status !== 'planned' || !out.cached) throw new Error('expected a cache hit');
}
await store.close();

const fmt = (xs) => `median ${median(xs).toFixed(2)} ms, p95 ${percentile(xs, 95).toFixed(2)} ms`;
console.log(`model planner, ${N} requests each (20-row sample, masked and hashed on every call):`);
console.log(`  cache hit (mask + prompt + llm_plans read): ${fmt(hits)}   (goal ≤ 5 ms)`);
console.log(`  model round trip to the local server:       ${fmt(roundTrips)}`);
console.log(`  ratio round trip / cache hit (medians):     ${(median(roundTrips) / median(hits)).toFixed(1)}x`);
