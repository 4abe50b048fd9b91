/**
 * Pipeline versions, rollback and run snapshots through buildApp + inject, over the real control database and real
 * tokens: every change is an immutable version with its artifact; versions are listed and diffed; a rollback is a
 * new version; a run records the version it was submitted for, and its approval binds to that snapshot; target
 * changes and switches to replace make runs wait for an approval when approvals are enabled.
 */
import { createHash } from 'node:crypto';
import { TRIVIAL_CODE, bearer, pipelineBody, token as realToken, unique, type Client } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(60_000);

const sha256 = (code: string) => createHash('sha256').update(code, 'utf8').digest('hex');
const CODE_2 = 'def transform(rows):\n    return [r for r in rows if r.get("email")]\n';

let gw: TestGateway;
let policyGw: TestGateway;
let call: Client;
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });

beforeAll(async () => {
  gw = await buildTestGateway();
  policyGw = await buildTestGateway({}, { approvalRequiredModes: ['merge'] });
  call = gw.call;
});
afterAll(async () => {
  await gw?.close();
  await policyGw?.close();
});

async function create(c: Client, overrides: Record<string, unknown> = {}) {
  const res = await c('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('gw-ver'), overrides) });
  expect(res.status).toBe(201);
  return res.json();
}

async function put(c: Client, p: { id: string; name: string }, overrides: Record<string, unknown>) {
  const res = await c('PUT', `/v1/pipelines/${p.id}`, { ...as('alice'), body: pipelineBody(p.name, overrides) });
  expect(res.status).toBe(200);
  return res.json();
}

/** Submits a run and says whether it waits for an approval; a run that would start is cancelled at once. */
async function submitWaits(c: Client, pipelineId: string): Promise<boolean> {
  const res = await c('POST', `/v1/pipelines/${pipelineId}/runs`, as('alice'));
  expect(res.status).toBe(202);
  const { runId, status } = res.json();
  if (status === 'queued') expect((await c('POST', `/v1/runs/${runId}/cancel`, as('alice'))).status).toBe(200);
  return status === 'awaiting_approval';
}

describe('versions', () => {
  it('writes every change as an immutable version with its artifact; lists them newest first, paginated', async () => {
    const p = await create(call);
    expect(p).toMatchObject({ version: 1, artifactSha256: sha256(TRIVIAL_CODE), approvalRequired: true });
    const p2 = await put(call, p, { transform: { kind: 'python', code: CODE_2 } });
    expect(p2).toMatchObject({ version: 2, artifactSha256: sha256(CODE_2) });

    const first = await call('GET', `/v1/pipelines/${p.id}/versions?limit=1`, as('reader'));
    expect(first.status).toBe(200);
    expect(first.json().items).toEqual([
      expect.objectContaining({ pipelineId: p.id, version: 2, artifactSha256: sha256(CODE_2), rollbackOf: null, createdBy: expect.stringMatching(/\|alice$/) }),
    ]);
    const second = (await call('GET', `/v1/pipelines/${p.id}/versions?limit=1&cursor=${first.json().nextCursor}`, as('reader'))).json();
    expect(second.items.map((v: { version: number }) => v.version)).toEqual([1]);
    expect(second.nextCursor).toBeNull();

    const v1 = await call('GET', `/v1/pipelines/${p.id}/versions/1`, as('reader'));
    expect(v1.json()).toMatchObject({ version: 1, spec: { transform: { code: TRIVIAL_CODE } } });
    const artifacts = (await call('GET', `/v1/pipelines/${p.id}/artifacts`, as('reader'))).json();
    expect(artifacts.items.map((a: { version: number; sha256: string }) => [a.version, a.sha256])).toEqual([
      [2, sha256(CODE_2)],
      [1, sha256(TRIVIAL_CODE)],
    ]);
  });

  it('diffs any two versions: the spec without its code, and the code', async () => {
    const p = await create(call);
    await put(call, p, { transform: { kind: 'python', code: CODE_2 } });
    await put(call, p, { transform: { kind: 'python', code: CODE_2 }, target: { connection: 'warehouse', table: 'silver.gw_other', mode: 'append' } });

    const codeOnly = (await call('GET', `/v1/pipelines/${p.id}/versions/1/diff/2`, as('reader'))).json();
    expect(codeOnly).toMatchObject({
      from: { version: 1, artifactSha256: sha256(TRIVIAL_CODE) },
      to: { version: 2, artifactSha256: sha256(CODE_2) },
      spec: { additions: 0, deletions: 0, unified: '' },
      code: { additions: 1, deletions: 1 },
    });
    expect(codeOnly.code.unified).toContain('+    return [r for r in rows if r.get("email")]');

    const target = (await call('GET', `/v1/pipelines/${p.id}/versions/2/diff/3`, as('reader'))).json();
    expect(target.code).toEqual({ additions: 0, deletions: 0, unified: '' });
    expect(target.spec.unified).toContain('-    "table": "silver.gw_absent"');
    expect(target.spec.unified).toContain('+    "table": "silver.gw_other"');
    expect(target.spec.unified).toContain('+    "mode": "append"');
    expect(JSON.stringify(target.spec)).not.toContain('def transform');

    const backwards = (await call('GET', `/v1/pipelines/${p.id}/versions/3/diff/1`, as('reader'))).json();
    expect(backwards.code).toMatchObject({ additions: 1, deletions: 1 });

    const unknown = await call('GET', `/v1/pipelines/${p.id}/versions/1/diff/9`, as('reader'));
    expect(unknown.status).toBe(404);
    expect(unknown.json().errors).toEqual([expect.objectContaining({ field: 'params/to' })]);
    expect((await call('GET', `/v1/pipelines/${p.id}/versions/0/diff/1`, as('reader'))).status).toBe(400);
    expect((await call('GET', `/v1/pipelines/${p.id}/versions`, as('carol'))).status).toBe(404);
  });
});

describe('rollback', () => {
  it('restores an earlier version as a new version, reusing its artifact; generated code is never overwritten', async () => {
    const p = await create(call);
    await put(call, p, { transform: { kind: 'python', code: CODE_2 } });
    const res = await call('POST', `/v1/pipelines/${p.id}/rollback`, { ...as('alice'), body: { version: 1 } });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: p.id, name: p.name, version: 3, artifactSha256: sha256(TRIVIAL_CODE), approvalRequired: true });
    expect(res.json().spec.transform.code).toBe(TRIVIAL_CODE);
    const v3 = (await call('GET', `/v1/pipelines/${p.id}/versions/3`, as('reader'))).json();
    expect(v3).toMatchObject({ rollbackOf: 1, artifactSha256: sha256(TRIVIAL_CODE) });
    const artifacts = (await call('GET', `/v1/pipelines/${p.id}/artifacts`, as('reader'))).json();
    expect(artifacts.items).toHaveLength(2);
    // The pipeline asks for approvals: a run of the rolled-back version waits for one.
    expect(await submitWaits(call, p.id)).toBe(true);
    // Only submitters may roll back.
    expect((await call('POST', `/v1/pipelines/${p.id}/rollback`, { ...as('reader'), body: { version: 1 } })).status).toBe(403);
  });

  it('answers 404 naming body/version for an unknown version, 400 for a malformed body, and changes nothing', async () => {
    const p = await create(call);
    const unknown = await call('POST', `/v1/pipelines/${p.id}/rollback`, { ...as('alice'), body: { version: 7 } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.json().errors).toEqual([expect.objectContaining({ field: 'body/version' })]);
    for (const body of [{}, { version: 'one' }, { version: 0 }, { version: 1, extra: true }]) {
      const bad = await call('POST', `/v1/pipelines/${p.id}/rollback`, { ...as('alice'), body });
      expect([JSON.stringify(body), bad.status]).toEqual([JSON.stringify(body), 400]);
      expect(bad.json().errors.some((e: { field?: string }) => e.field?.startsWith('body'))).toBe(true);
    }
    expect((await call('POST', `/v1/pipelines/${p.id}/rollback`, { ...as('carol'), body: { version: 1 } })).status).toBe(404);
    const versions = (await call('GET', `/v1/pipelines/${p.id}/versions`, as('reader'))).json();
    expect(versions.items.map((v: { version: number }) => v.version)).toEqual([1]);
    expect((await call('GET', `/v1/pipelines/${p.id}`, as('reader'))).json().version).toBe(1);
  });
});

describe('a run is a snapshot', () => {
  it('keeps the submitted version, artifact and target after a PUT and a delete; its approval binds to them', async () => {
    const p = await create(call);
    const submitted = await call('POST', `/v1/pipelines/${p.id}/runs`, as('alice'));
    const runId = submitted.json().runId as string;
    await put(call, p, { transform: { kind: 'python', code: CODE_2 }, target: { connection: 'warehouse', table: 'silver.gw_moved', mode: 'replace' } });

    const run = (await call('GET', `/v1/runs/${runId}`, as('reader'))).json();
    expect(run).toMatchObject({
      status: 'awaiting_approval',
      pipelineVersion: 1,
      artifactSha256: sha256(TRIVIAL_CODE),
      target: { connection: 'warehouse', table: 'silver.gw_absent', mode: 'merge', keys: ['email'] },
    });
    expect((await call('GET', `/v1/runs/${runId}/approval`, as('bob'))).json()).toMatchObject({
      state: 'pending',
      pipelineVersion: 1,
      artifactSha256: sha256(TRIVIAL_CODE),
    });
    const approved = await call('POST', `/v1/runs/${runId}/approval`, { ...as('bob'), body: { decision: 'approve' } });
    expect(approved.json()).toMatchObject({ state: 'approved', pipelineVersion: 1, artifactSha256: sha256(TRIVIAL_CODE) });

    expect((await call('DELETE', `/v1/pipelines/${p.id}`, as('alice'))).status).toBe(204);
    expect((await call('GET', `/v1/runs/${runId}`, as('reader'))).json()).toMatchObject({
      pipelineVersion: 1,
      artifactSha256: sha256(TRIVIAL_CODE),
      target: { table: 'silver.gw_absent', mode: 'merge' },
    });
  });
});

describe('changes a reviewer must see', () => {
  const noApproval = { approval: { required: false }, target: { connection: 'warehouse', table: 'silver.gw_absent', mode: 'append' } };

  it('with approvals enabled by policy, a target change or a switch to replace makes the next runs wait; a code change does not', async () => {
    const c = policyGw.call;
    const p = await create(c, noApproval);
    expect(p.approvalRequired).toBe(false);
    expect(await submitWaits(c, p.id)).toBe(false);

    const code = await put(c, p, { ...noApproval, transform: { kind: 'python', code: CODE_2 } });
    expect(code.approvalRequired).toBe(false);
    expect(await submitWaits(c, p.id)).toBe(false);

    const moved = await put(c, p, { ...noApproval, target: { connection: 'warehouse', table: 'silver.gw_moved', mode: 'append' } });
    expect(moved.approvalRequired).toBe(true);
    expect(await submitWaits(c, p.id)).toBe(true);

    const replace = await put(c, p, { ...noApproval, target: { connection: 'warehouse', table: 'silver.gw_moved', mode: 'replace' } });
    expect(replace.approvalRequired).toBe(true);
    expect(await submitWaits(c, p.id)).toBe(true);

    // Rolling back to version 1 changes the target back: a reviewer sees that too.
    const back = await c('POST', `/v1/pipelines/${p.id}/rollback`, { ...as('alice'), body: { version: 1 } });
    expect(back.json()).toMatchObject({ version: 5, approvalRequired: true });
  });

  it('turning the approval setting off is itself a change that needs an approval', async () => {
    const p = await create(call);
    const off = await put(call, p, { approval: { required: false } });
    expect(off.approvalRequired).toBe(true);
    expect(await submitWaits(call, p.id)).toBe(true);
  });

  it('without approvals enabled, changes need none', async () => {
    const p = await create(call, noApproval);
    const moved = await put(call, p, { ...noApproval, target: { connection: 'warehouse', table: 'silver.gw_moved', mode: 'replace' } });
    expect(moved.approvalRequired).toBe(false);
    expect(await submitWaits(call, p.id)).toBe(false);
  });
});
