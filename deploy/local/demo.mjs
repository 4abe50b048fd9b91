// The example pipeline, end to end through the running services:
// CRM customers (source DB) → normalised, deduplicated by email → silver.customers (warehouse DB).
// Prints progress to stderr; the last line on stdout is the final run record, as GET /v1/runs/:id returns it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const api = process.env.AOETL_API_URL ?? 'http://127.0.0.1:8080';
const say = (msg) => process.stderr.write(`[demo] ${msg}\n`);

const token = execFileSync(join(repo, 'deploy/local/token.sh'), ['alice'], { encoding: 'utf8' }).trim();
const call = async (method, path, body, headers = {}) => {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (res.status >= 400) throw new Error(`${method} ${path} → ${res.status}: ${JSON.stringify(json)}`);
  return json;
};

const pipeline = await call('POST', '/v1/pipelines', {
  name: `demo-customers-${Date.now()}`,
  description: 'CRM customers into silver.customers, deduplicated by email, emails normalised',
  source: { connection: 'crm-source', table: 'crm.customers' },
  target: { connection: 'warehouse', table: 'silver.customers', mode: 'merge', keys: ['email'] },
  transform: { kind: 'python', code: readFileSync(join(repo, 'examples/customers_transform.py'), 'utf8') },
});
say(`pipeline ${pipeline.id} created`);
const accepted = await call('POST', `/v1/pipelines/${pipeline.id}/runs`, undefined, { 'idempotency-key': `demo-${pipeline.id}` });
say(`run ${accepted.runId} accepted`);

const deadline = Date.now() + 10 * 60_000;
let run;
let last = '';
do {
  await new Promise((r) => setTimeout(r, 500));
  run = await call('GET', `/v1/runs/${accepted.runId}`);
  if (run.status !== last) say(`run ${run.id}: ${(last = run.status)}`);
} while (!['succeeded', 'failed', 'cancelled'].includes(run.status) && Date.now() < deadline);

process.stdout.write(`${JSON.stringify(run)}\n`);
process.exit(run.status === 'succeeded' ? 0 : 1);
