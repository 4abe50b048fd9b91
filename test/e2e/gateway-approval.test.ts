/**
 * Four eyes end to end on the running services: alice submits a run of a pipeline that needs approval; it waits
 * (nothing reaches the orchestrator) until bob approves; then it runs for real through the orchestrator, an
 * etl-agent and the sandbox on a small source table, while its live events stream over SSE. Its generated-code
 * artifact is listed with version and hash; a second version after an update is diffed against the first.
 */
import { randomBytes } from 'node:crypto';
import { API, bearer, demoTransform, liveClient, psqlAdmin, token as realToken, waitForRun } from '@aoetl/testing';

jest.setTimeout(300_000);

const call = liveClient();
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const suffix = randomBytes(4).toString('hex');
const SOURCE = `crm.gw_e2e_${suffix}`;
const TARGET = `silver.gw_e2e_${suffix}`;
const demoCode = demoTransform();

beforeAll(() => {
  psqlAdmin(
    'source',
    `CREATE TABLE ${SOURCE} (LIKE crm.customers INCLUDING ALL);
     INSERT INTO ${SOURCE} SELECT * FROM crm.customers WHERE email LIKE '%@%.%' ORDER BY customer_id LIMIT 25;
     GRANT SELECT ON ${SOURCE} TO source_read;`,
  );
  psqlAdmin('warehouse', `CREATE TABLE ${TARGET} (LIKE silver.customers INCLUDING ALL); ALTER TABLE ${TARGET} OWNER TO warehouse_load;`);
});
afterAll(() => {
  psqlAdmin('source', `DROP TABLE IF EXISTS ${SOURCE}`);
  psqlAdmin('warehouse', `DROP TABLE IF EXISTS ${TARGET}`);
});

function spec(code: string) {
  return {
    name: `gw-e2e-approval-${suffix}`,
    source: { connection: 'crm-source', table: SOURCE },
    target: { connection: 'warehouse', table: TARGET, mode: 'merge', keys: ['email'] },
    transform: { kind: 'python', code },
    chunks: 1,
    approval: { required: true },
  };
}

/** Reads a run's server-sent events until the `end` event. */
async function collectEvents(runId: string): Promise<{ event: string; data: any; id?: string }[]> {
  const res = await fetch(`${API}/v1/runs/${runId}/events`, { headers: { authorization: bearer(realToken('reader')) } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await res.text(); // the gateway ends the stream after `end`
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: '))
    .map((block) => {
      const get = (k: string) => block.split('\n').find((l) => l.startsWith(`${k}: `))?.slice(k.length + 2);
      return { event: get('event')!, data: JSON.parse(get('data')!), ...(get('id') ? { id: get('id') } : {}) };
    });
}

async function approvedRun(pipelineId: string): Promise<string> {
  const accepted = await call('POST', `/v1/pipelines/${pipelineId}/runs`, as('alice'));
  expect(accepted.status).toBe(202);
  expect(accepted.json().status).toBe('awaiting_approval');
  const runId = accepted.json().runId as string;

  // It waits: after a while it is still awaiting approval, and no request was sent for it.
  await new Promise((r) => setTimeout(r, 1500));
  expect((await call('GET', `/v1/runs/${runId}`, as('alice'))).json().status).toBe('awaiting_approval');
  expect(psqlAdmin('aoetl', `SELECT count(*) FROM outbox WHERE message->'payload'->>'runId' = '${runId}'`)).toBe('0');

  // Four eyes: alice cannot approve (no permission), nor can admin approve a run admin submitted; bob can.
  expect((await call('POST', `/v1/runs/${runId}/approval`, { ...as('alice'), body: { decision: 'approve' } })).status).toBe(403);
  const approved = await call('POST', `/v1/runs/${runId}/approval`, { ...as('bob'), body: { decision: 'approve', comment: 'ok' } });
  expect(approved.status).toBe(200);
  expect(approved.json().state).toBe('approved');
  return runId;
}

describe('approval, live events and artifacts on the running services', () => {
  let pipelineId: string;
  let firstSha: string;

  test('an approved run runs for real, and its events stream until it ends', async () => {
    const created = await call('POST', '/v1/pipelines', { ...as('alice'), body: spec(demoCode) });
    expect(created.status).toBe(201);
    pipelineId = created.json().id;

    const runId = await approvedRun(pipelineId);
    const events = await collectEvents(runId);
    const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
    expect(statuses).toEqual(['awaiting_approval', 'queued', 'planning', 'running', 'succeeded']);
    expect(events.at(-1)).toEqual({ event: 'end', data: { status: 'succeeded' } });

    const run = await waitForRun(runId, realToken('alice'));
    expect(run).toMatchObject({ status: 'succeeded', approvalRequired: true, rowsIn: 25 });
    expect(Number(psqlAdmin('warehouse', `SELECT count(*) FROM ${TARGET}`))).toBe(run.rowsOut);
    firstSha = run.artifactSha256;

    const artifacts = (await call('GET', `/v1/pipelines/${pipelineId}/artifacts`, as('reader'))).json();
    expect(artifacts.items).toEqual([expect.objectContaining({ version: 1, sha256: firstSha, language: 'python' })]);
  });

  test('after an update, the next approved run stores version 2, diffed against version 1', async () => {
    const changed = demoCode.replace('return [seen[k] for k in sorted(seen)]', 'return [seen[k] for k in sorted(seen, reverse=True)]');
    expect(changed).not.toBe(demoCode);
    const updated = await call('PUT', `/v1/pipelines/${pipelineId}`, { ...as('alice'), body: spec(changed) });
    expect(updated.json().version).toBe(2);

    const runId = await approvedRun(pipelineId);
    const run = await waitForRun(runId, realToken('alice'));
    expect(run.status).toBe('succeeded');
    expect(run.artifactSha256).not.toBe(firstSha);

    const diff = (await call('GET', `/v1/pipelines/${pipelineId}/artifacts/2/diff`, as('reader'))).json();
    expect(diff).toMatchObject({ from: { version: 1, sha256: firstSha }, to: { version: 2, sha256: run.artifactSha256 }, additions: 1, deletions: 1 });
    expect(diff.unified).toContain('+    return [seen[k] for k in sorted(seen, reverse=True)]');

    // The audit ledger tells who submitted and who approved.
    const audit = (await call('GET', `/v1/audit?object=run:${runId}&limit=100`, as('admin'))).json();
    const byKind = (k: string) => audit.items.find((e: { action: string }) => e.action === k);
    expect(byKind('run.submitted').actor).toMatch(/\|alice$/);
    expect(byKind('approval.approved').actor).toMatch(/\|bob$/);
  });
});
