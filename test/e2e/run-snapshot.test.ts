/**
 * A run is a snapshot, on the running services: what a run executes is fixed at submit (pipeline version, code,
 * target) and its approval binds to exactly that. A PUT of new code or a new target after the approval, a switch
 * from append to replace after submit, or a delete while the run runs never changes what it executes. Evidence is
 * taken from three places: the rows in the warehouse (each code version marks the rows it writes), the run's record,
 * and the tasks the orchestrator actually sent (its outbox in the control database).
 */
import { createHash, randomBytes } from 'node:crypto';
import { bearer, customersTarget, demoTransform, liveClient, psqlAdmin, token as realToken, waitFor, waitForRun } from '@aoetl/testing';

jest.setTimeout(300_000);

const call = liveClient();
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const suffix = randomBytes(4).toString('hex');
const SOURCE = `crm.snap_e2e_${suffix}`;
/** One row per normalised email, so that append never meets a duplicate key. */
const SOURCE_ROWS = 30;
const sha256 = (code: string) => createHash('sha256').update(code, 'utf8').digest('hex');

/** The demo transform, writing `marker` as every row's first name: the rows tell which code ran. */
const demoCode = demoTransform();
function markedCode(marker: string): string {
  const code = demoCode.replace('"first_name": row["first_name"],', `"first_name": "${marker}",`);
  if (code === demoCode) throw new Error('examples/customers_transform.py changed: the marker no longer applies');
  return code;
}
const CODE_V1 = markedCode('snapshot-v1');
const CODE_V2 = markedCode('snapshot-v2');

const targets: string[] = [];
function freshTarget(): string {
  const table = customersTarget(`snap_e2e_${suffix}_${targets.length}`);
  targets.push(table);
  return table;
}

beforeAll(() => {
  psqlAdmin(
    'source',
    `CREATE TABLE ${SOURCE} (LIKE crm.customers INCLUDING ALL);
     INSERT INTO ${SOURCE} SELECT * FROM (
       SELECT DISTINCT ON (lower(btrim(email))) * FROM crm.customers WHERE email LIKE '%@%.%' ORDER BY lower(btrim(email)), customer_id
     ) one_per_email ORDER BY customer_id LIMIT ${SOURCE_ROWS};
     GRANT SELECT ON ${SOURCE} TO source_read;`,
  );
});
afterAll(() => {
  psqlAdmin('source', `DROP TABLE IF EXISTS ${SOURCE}`);
  for (const table of targets) psqlAdmin('warehouse', `DROP TABLE IF EXISTS ${table}`);
});

function spec(opts: { target: string; code: string; mode?: 'append' | 'merge' | 'replace'; approval: boolean; chunks?: number }) {
  const mode = opts.mode ?? 'merge';
  return {
    name: `snap-e2e-${suffix}-${randomBytes(3).toString('hex')}`,
    source: { connection: 'crm-source', table: SOURCE },
    target: { connection: 'warehouse', table: opts.target, mode, ...(mode === 'merge' ? { keys: ['email'] } : {}) },
    transform: { kind: 'python', code: opts.code },
    chunks: opts.chunks ?? 2,
    approval: { required: opts.approval },
  };
}

async function createPipeline(body: ReturnType<typeof spec>): Promise<{ id: string; name: string }> {
  const res = await call('POST', '/v1/pipelines', { ...as('alice'), body });
  expect(res.status).toBe(201);
  return res.json();
}

async function putPipeline(id: string, body: ReturnType<typeof spec>): Promise<any> {
  const res = await call('PUT', `/v1/pipelines/${id}`, { ...as('alice'), body });
  expect(res.status).toBe(200);
  return res.json();
}

async function submit(pipelineId: string): Promise<{ runId: string; status: string }> {
  const res = await call('POST', `/v1/pipelines/${pipelineId}/runs`, as('alice'));
  expect(res.status).toBe(202);
  return res.json();
}

async function approve(runId: string): Promise<any> {
  const res = await call('POST', `/v1/runs/${runId}/approval`, { ...as('bob'), body: { decision: 'approve' } });
  expect(res.status).toBe(200);
  return res.json();
}

/** The tasks the orchestrator wrote for a run (its outbox rows), as sent. */
function tasksOf(runId: string): { type: string; payload: any }[] {
  const out = psqlAdmin(
    'aoetl',
    `SELECT coalesce(json_agg(message ORDER BY id), '[]') FROM outbox
     WHERE producer = 'orchestrator' AND message->>'type' LIKE 'task.%' AND message->'payload'->>'runId' = '${runId}'`,
  );
  return JSON.parse(out) as { type: string; payload: any }[];
}

/** Every task of the run carries exactly this code (by hash and by text) and this target. */
function expectTasksExecuted(runId: string, code: string, target: { table: string; mode: string }): void {
  const tasks = tasksOf(runId);
  const loads = tasks.filter((t) => t.type === 'task.load');
  const commits = tasks.filter((t) => t.type === 'task.commit');
  expect(loads.length).toBeGreaterThanOrEqual(1);
  expect(commits.map((t) => t.payload.action)).toContain('commit');
  for (const t of loads) {
    expect({ sha256: t.payload.transform.sha256, codeSha256: sha256(t.payload.transform.code) }).toEqual({ sha256: sha256(code), codeSha256: sha256(code) });
  }
  for (const t of [...loads, ...commits]) {
    expect({ table: t.payload.target.table, mode: t.payload.target.mode }).toEqual(target);
  }
}

const markers = (table: string) => psqlAdmin('warehouse', `SELECT string_agg(DISTINCT first_name, ',') FROM ${table}`);
const count = (table: string) => Number(psqlAdmin('warehouse', `SELECT count(*) FROM ${table}`));

describe('a run executes its snapshot on the running services', () => {
  test('an approval followed by a PUT of new code and a new target: the run executes exactly the approved artifact and target', async () => {
    const approvedTarget = freshTarget();
    const otherTarget = freshTarget();
    const p = await createPipeline(spec({ target: approvedTarget, code: CODE_V1, approval: true }));
    const { runId, status } = await submit(p.id);
    expect(status).toBe('awaiting_approval');

    const approval = await approve(runId);
    expect(approval).toMatchObject({ state: 'approved', pipelineVersion: 1, artifactSha256: sha256(CODE_V1) });
    // Straight after the approval: new code and a new target.
    const changed = await putPipeline(p.id, { ...spec({ target: otherTarget, code: CODE_V2, mode: 'append', approval: true }), name: p.name });
    expect(changed).toMatchObject({ version: 2, artifactSha256: sha256(CODE_V2) });

    const run = await waitForRun(runId, realToken('alice'));
    expect(run).toMatchObject({
      status: 'succeeded',
      pipelineVersion: 1,
      artifactSha256: approval.artifactSha256,
      target: { connection: 'warehouse', table: approvedTarget, mode: 'merge', keys: ['email'] },
    });
    expect(count(approvedTarget)).toBe(run.rowsOut);
    expect(run.rowsOut).toBeGreaterThan(0);
    expect(markers(approvedTarget)).toBe('snapshot-v1');
    expect(count(otherTarget)).toBe(0);
    expectTasksExecuted(runId, CODE_V1, { table: approvedTarget, mode: 'merge' });
  });

  test('a PUT while the run waits for approval: the approver sees, and the run executes, the submitted version', async () => {
    const submittedTarget = freshTarget();
    const otherTarget = freshTarget();
    const p = await createPipeline(spec({ target: submittedTarget, code: CODE_V1, approval: true }));
    const { runId } = await submit(p.id);
    await putPipeline(p.id, { ...spec({ target: otherTarget, code: CODE_V2, approval: true }), name: p.name });

    const pending = (await call('GET', `/v1/runs/${runId}/approval`, as('bob'))).json();
    expect(pending).toMatchObject({ state: 'pending', pipelineVersion: 1, artifactSha256: sha256(CODE_V1) });
    await approve(runId);

    const run = await waitForRun(runId, realToken('alice'));
    expect(run).toMatchObject({ status: 'succeeded', pipelineVersion: 1, artifactSha256: sha256(CODE_V1), target: { table: submittedTarget } });
    expect(markers(submittedTarget)).toBe('snapshot-v1');
    expect(count(otherTarget)).toBe(0);
    expectTasksExecuted(runId, CODE_V1, { table: submittedTarget, mode: 'merge' });
  });

  test('append → replace after submit cannot delete the target\'s rows (with and without an approval)', async () => {
    for (const approval of [true, false]) {
      const target = freshTarget();
      psqlAdmin(
        'warehouse',
        `INSERT INTO ${target} (email, customer_id, first_name) VALUES ('kept-${suffix}@example.org', -1, 'kept-before-the-run')`,
      );
      const p = await createPipeline(spec({ target, code: CODE_V1, mode: 'append', approval, chunks: 1 }));
      const { runId, status } = await submit(p.id);
      expect(status).toBe(approval ? 'awaiting_approval' : 'queued');
      const replaced = await putPipeline(p.id, { ...spec({ target, code: CODE_V1, mode: 'replace', approval, chunks: 1 }), name: p.name });
      expect(replaced.spec.target.mode).toBe('replace');
      if (approval) await approve(runId);

      const run = await waitForRun(runId, realToken('alice'));
      expect([approval, run.status, run.target?.mode]).toEqual([approval, 'succeeded', 'append']);
      expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${target} WHERE first_name = 'kept-before-the-run'`)).toBe('1');
      expect(count(target)).toBe(1 + run.rowsOut);
      expectTasksExecuted(runId, CODE_V1, { table: target, mode: 'append' });

      // The switch to replace is a change a reviewer must see when approvals are enabled: the next run waits.
      if (approval) {
        const next = await submit(p.id);
        expect(next.status).toBe('awaiting_approval');
        expect((await call('POST', `/v1/runs/${next.runId}/cancel`, as('alice'))).status).toBe(200);
      }
    }
  });

  test('a pipeline deleted mid-run: the run finishes with its snapshot, and its record\'s artifact is the code that ran', async () => {
    const target = freshTarget();
    const p = await createPipeline(spec({ target, code: CODE_V1, approval: false, chunks: 4 }));
    const { runId } = await submit(p.id);
    // Delete once the orchestrator has taken the run (planning or running), or at once should it already be done.
    await waitFor(
      `run ${runId} to start`,
      async () => {
        const s = (await call('GET', `/v1/runs/${runId}`, as('alice'))).json().status as string;
        return s === 'queued' ? undefined : s;
      },
      60_000,
      50,
    );
    expect((await call('DELETE', `/v1/pipelines/${p.id}`, as('alice'))).status).toBe(204);
    expect((await call('GET', `/v1/pipelines/${p.id}`, as('alice'))).status).toBe(404);

    const run = await waitForRun(runId, realToken('alice'));
    expect(run).toMatchObject({ status: 'succeeded', pipelineVersion: 1, chunks: 4, target: { table: target, mode: 'merge' } });
    expect(run.artifactSha256).toBe(sha256(CODE_V1));
    expect(markers(target)).toBe('snapshot-v1');
    expect(count(target)).toBe(run.rowsOut);
    expectTasksExecuted(runId, CODE_V1, { table: target, mode: 'merge' });
    expect(tasksOf(runId).filter((t) => t.type === 'task.load').map((t) => t.payload.chunk.count)).toEqual([4, 4, 4, 4]);
  });
});
