/**
 * The v1 API's behaviour through buildApp + inject, over the real control database and real tokens from the
 * local OIDC issuer: pipelines CRUD, pagination, runs (Idempotency-Key, approval, cancel, events), four eyes,
 * connections (Vault references only), artifacts with diffs, the audit ledger, problem+json.
 */
import Fastify from 'fastify';
import { artifactSql, bearer, connectionBody, pipelineBody, psqlAdmin, token as realToken, unique, type Client } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';
import { connectionView } from '../../src/routes/connections.js';
import { ConnectionResponse } from '../../src/schemas.js';

jest.setTimeout(60_000);

let gw: TestGateway;
let call: Client;
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });

beforeAll(async () => {
  gw = await buildTestGateway();
  call = gw.call;
});
afterAll(async () => gw?.close());

async function newPipeline(identity = 'alice', overrides: Record<string, unknown> = {}) {
  const res = await call('POST', '/v1/pipelines', { ...as(identity), body: pipelineBody(unique('gw-api'), overrides) });
  expect(res.status).toBe(201);
  return res.json();
}

async function newRun(pipelineId: string, identity = 'alice', headers: Record<string, string> = {}) {
  const res = await call('POST', `/v1/pipelines/${pipelineId}/runs`, { ...as(identity), headers });
  expect(res.status).toBe(202);
  return res.json();
}

describe('pipelines', () => {
  it('creates, reads, updates (version bump), lists and deletes a pipeline', async () => {
    const created = await newPipeline();
    expect(created).toMatchObject({ version: 1, updatedBy: null, spec: { approval: { required: true } } });
    expect(created.createdBy).toMatch(/\|alice$/);

    const renamed = unique('gw-api-renamed');
    const updated = await call('PUT', `/v1/pipelines/${created.id}`, { ...as('admin'), body: pipelineBody(renamed) });
    expect(updated.status).toBe(200);
    expect(updated.json()).toMatchObject({ id: created.id, name: renamed, version: 2, spec: { name: renamed } });
    expect(updated.json().updatedBy).toMatch(/\|admin$/);
    expect((await call('GET', `/v1/pipelines/${created.id}`, as('reader'))).json().version).toBe(2);

    expect((await call('DELETE', `/v1/pipelines/${created.id}`, as('alice'))).status).toBe(204);
    expect((await call('GET', `/v1/pipelines/${created.id}`, as('alice'))).status).toBe(404);
    expect((await call('DELETE', `/v1/pipelines/${created.id}`, as('alice'))).status).toBe(404);
    expect((await call('POST', `/v1/pipelines/${created.id}/runs`, as('alice'))).status).toBe(404);
    // The name is free again once deleted.
    expect((await call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(renamed) })).status).toBe(201);
  });

  it('answers 409 for a taken name, naming the field', async () => {
    const first = await newPipeline();
    const res = await call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(first.name) });
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().errors).toEqual([expect.objectContaining({ field: 'body/name' })]);
  });

  it('paginates with limit and cursor, without overlap, and rejects a forged cursor', async () => {
    // Three full pages of two and a cursor after the third: at least seven pipelines, even on a fresh database.
    for (let i = 0; i < 7; i += 1) await newPipeline();
    const seen = new Set<string>();
    let cursor: string | null = null;
    for (let page = 0; page < 3; page += 1) {
      const res = await call('GET', `/v1/pipelines?limit=2${cursor ? `&cursor=${cursor}` : ''}`, as('reader'));
      expect(res.status).toBe(200);
      const body = res.json();
      expect(body.items.length).toBe(2);
      for (const p of body.items) {
        expect(seen.has(p.id)).toBe(false);
        seen.add(p.id);
      }
      cursor = body.nextCursor;
      expect(cursor).toEqual(expect.any(String));
    }
    const forged = await call('GET', '/v1/pipelines?cursor=bm90LWEtY3Vyc29y', as('reader'));
    expect(forged.status).toBe(400);
    expect(forged.json().errors).toEqual([expect.objectContaining({ field: 'querystring/cursor' })]);
    const tooBig = await call('GET', '/v1/pipelines?limit=1000', as('reader'));
    expect(tooBig.status).toBe(400);
    expect(tooBig.json().errors).toEqual([expect.objectContaining({ field: 'querystring/limit' })]);
  });

  it('rejects invalid bodies with problem+json naming each field', async () => {
    const body: any = pipelineBody();
    body.target.mode = 'upsert';
    body.approval = { required: 'yes' };
    body.extra = 1;
    const res = await call('POST', '/v1/pipelines', { ...as('alice'), body });
    expect(res.status).toBe(400);
    const fields = res.json().errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['body/target/mode', 'body/approval/required', 'body/extra']));
  });
});

describe('runs, approvals (four eyes) and cancel', () => {
  it('a run of a pipeline needing approval waits, sends no request, and the submitter cannot approve it', async () => {
    const p = await newPipeline('admin');
    const run = await newRun(p.id, 'admin');
    expect(run).toMatchObject({ status: 'awaiting_approval', created: true });
    const outbox = psqlAdmin('aoetl', `SELECT count(*) FROM outbox WHERE message->'payload'->>'runId' = '${run.runId}'`);
    expect(outbox).toBe('0');

    // admin holds the approve permission, but submitted the run: four eyes.
    const own = await call('POST', `/v1/runs/${run.runId}/approval`, { ...as('admin'), body: { decision: 'approve' } });
    expect(own.status).toBe(403);
    expect(own.json().detail).toMatch(/four eyes/);
    expect((await call('GET', `/v1/runs/${run.runId}/approval`, as('reader'))).json().state).toBe('pending');

    const pending = await call('GET', '/v1/approvals?state=pending&limit=100', as('bob'));
    expect(pending.json().items.map((a: { runId: string }) => a.runId)).toContain(run.runId);
  });

  it('the database refuses a self-approval even if the API check were bypassed', async () => {
    const p = await newPipeline('alice');
    const run = await newRun(p.id, 'alice');
    const submittedBy = (await call('GET', `/v1/runs/${run.runId}`, as('alice'))).json().submittedBy;
    await expect(
      gw.pool.query(`INSERT INTO approvals (run_id, tenant, decision, decided_by) VALUES ($1, 'acme', 'approved', $2)`, [
        run.runId,
        submittedBy,
      ]),
    ).rejects.toThrow(/another identity/);
  });

  it('approval by another identity queues the run and writes its request to the outbox, once', async () => {
    // Approving starts real work: the test store's outbox rows have a producer no relay publishes
    // (agent-gateway-test), the run is cancelled right after, and its tables do not exist anyway.
    const p = await newPipeline('alice');
    const run = await newRun(p.id, 'alice');
    const ok = await call('POST', `/v1/runs/${run.runId}/approval`, { ...as('bob'), body: { decision: 'approve', comment: 'looks right' } });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ runId: run.runId, state: 'approved', comment: 'looks right' });
    expect(ok.json().decidedBy).toMatch(/\|bob$/);
    const after = (await call('GET', `/v1/runs/${run.runId}`, as('alice'))).json();
    expect(after.status).toBe('queued');
    expect(after.steps.map((s: { status: string }) => s.status)).toEqual(['awaiting_approval', 'queued']);
    expect(after.steps[1].detail).toMatchObject({ approval: 'approved' });
    const outbox = psqlAdmin(
      'aoetl',
      `SELECT producer || ' ' || (message->>'type') FROM outbox WHERE message->'payload'->>'runId' = '${run.runId}'`,
    );
    expect(outbox).toBe('agent-gateway-test run.requested');
    // Mark it published so no relay ever sends it (this run must not reach the orchestrator).
    psqlAdmin('aoetl', `UPDATE outbox SET published_at = now() WHERE message->'payload'->>'runId' = '${run.runId}'`);

    const again = await call('POST', `/v1/runs/${run.runId}/approval`, { ...as('admin'), body: { decision: 'reject' } });
    expect(again.status).toBe(409);
    // And stop it before the orchestrator's reconciler would pick the queued run up from the database.
    expect((await call('POST', `/v1/runs/${run.runId}/cancel`, as('alice'))).status).toBe(200);
  });

  it('rejection cancels the run; the submitter may cancel, another identity without admin may not', async () => {
    const p = await newPipeline('alice');
    const rejected = await newRun(p.id, 'alice');
    const res = await call('POST', `/v1/runs/${rejected.runId}/approval`, { ...as('bob'), body: { decision: 'reject' } });
    expect(res.json().state).toBe('rejected');
    expect((await call('GET', `/v1/runs/${rejected.runId}`, as('alice'))).json()).toMatchObject({ status: 'cancelled' });

    const mine = await newRun(p.id, 'alice');
    const cancelled = await call('POST', `/v1/runs/${mine.runId}/cancel`, as('alice'));
    expect(cancelled.status).toBe(200);
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', finishedAt: expect.any(String) });
    expect(cancelled.json().cancelledBy).toMatch(/\|alice$/);
    expect((await call('GET', `/v1/runs/${mine.runId}/approval`, as('alice'))).json().state).toBe('withdrawn');
    expect((await call('POST', `/v1/runs/${mine.runId}/cancel`, as('alice'))).status).toBe(409);

    const byAdmin = await newRun(p.id, 'alice');
    expect((await call('POST', `/v1/runs/${byAdmin.runId}/cancel`, as('admin'))).status).toBe(200);
  });

  it('the same Idempotency-Key gives the same run; another key another run', async () => {
    const p = await newPipeline('alice');
    const key = { 'idempotency-key': unique('k') };
    const first = await newRun(p.id, 'alice', key);
    const second = await newRun(p.id, 'alice', key);
    expect(second).toEqual({ ...first, created: false });
    const third = await newRun(p.id, 'alice', { 'idempotency-key': unique('k') });
    expect(third.runId).not.toBe(first.runId);
    const bad = await call('POST', `/v1/pipelines/${p.id}/runs`, { ...as('alice'), headers: { 'idempotency-key': 'has space' } });
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].field).toBe('headers/idempotency-key');
  });

  it('lists runs by pipeline and status', async () => {
    const p = await newPipeline('alice');
    const a = await newRun(p.id);
    const b = await newRun(p.id);
    await call('POST', `/v1/runs/${a.runId}/cancel`, as('alice'));
    const all = (await call('GET', `/v1/runs?pipelineId=${p.id}`, as('reader'))).json();
    expect(all.items.map((r: { id: string }) => r.id)).toEqual([b.runId, a.runId]);
    const cancelled = (await call('GET', `/v1/runs?pipelineId=${p.id}&status=cancelled`, as('reader'))).json();
    expect(cancelled.items.map((r: { id: string }) => r.id)).toEqual([a.runId]);
  });
});

describe('run events (server-sent events)', () => {
  it('streams the steps so far, then follows the run to its end', async () => {
    const p = await newPipeline('alice');
    const run = await newRun(p.id);
    const url = await gw.app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${url}/v1/runs/${run.runId}/events`, { headers: { authorization: bearer(realToken('reader')) } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (marker: string) => {
      while (!text.includes(marker)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    };
    await readUntil('awaiting_approval');
    await call('POST', `/v1/runs/${run.runId}/cancel`, as('alice'));
    await readUntil('event: end');
    const events = text.split('\n\n').filter((e) => e.includes('event:'));
    expect(events[0]).toMatch(/^id: \d+\nevent: status\ndata: \{"status":"awaiting_approval"/);
    expect(events[1]).toMatch(/^id: \d+\nevent: status\ndata: \{"status":"cancelled"/);
    expect(events[2]).toBe('event: end\ndata: {"status":"cancelled"}');

    // Last-Event-ID resumes after the given event.
    const firstId = /^id: (\d+)/.exec(events[0]!)![1]!;
    const resumed = await fetch(`${url}/v1/runs/${run.runId}/events`, {
      headers: { authorization: bearer(realToken('reader')), 'last-event-id': firstId },
    });
    const rest = await resumed.text();
    expect(rest).not.toContain('awaiting_approval');
    expect(rest).toContain('"status":"cancelled"');
  });

  it('answers 404 problem+json (not a stream) for another tenant\'s run', async () => {
    const p = await newPipeline('alice');
    const run = await newRun(p.id);
    const res = await call('GET', `/v1/runs/${run.runId}/events?timeoutSeconds=0`, as('carol'));
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('connections', () => {
  it('registers, replaces, lists, reads and deletes a connection; admins only write', async () => {
    const name = unique('gw-c');
    const created = await call('PUT', `/v1/connections/${name}`, { ...as('admin'), body: connectionBody() });
    expect(created.status).toBe(201);
    expect(created.json()).toMatchObject({ name, ...connectionBody(), updatedBy: null });
    const replaced = await call('PUT', `/v1/connections/${name}`, { ...as('admin'), body: { ...connectionBody(), port: 6543 } });
    expect(replaced.status).toBe(200);
    expect(replaced.json()).toMatchObject({ port: 6543, updatedBy: expect.stringMatching(/\|admin$/) });
    expect((await call('GET', `/v1/connections/${name}`, as('reader'))).json().port).toBe(6543);
    expect((await call('PUT', `/v1/connections/${name}`, { ...as('alice'), body: connectionBody() })).status).toBe(403);
    expect((await call('DELETE', `/v1/connections/${name}`, as('admin'))).status).toBe(204);
    expect((await call('GET', `/v1/connections/${name}`, as('reader'))).status).toBe(404);
  });

  it.each([['password'], ['secret'], ['token'], ['username'], ['credentials']])(
    'refuses a body carrying %s (no secret material is ever accepted)',
    async (field) => {
      const name = unique('gw-c');
      const res = await call('PUT', `/v1/connections/${name}`, { ...as('admin'), body: { ...connectionBody(), [field]: 's3cr3t-value' } });
      expect(res.status).toBe(400);
      expect(res.json().errors).toEqual([expect.objectContaining({ field: `body/${field}` })]);
      expect((await call('GET', `/v1/connections/${name}`, as('admin'))).status).toBe(404);
    },
  );

  it('refuses to delete a connection a pipeline uses (409)', async () => {
    const name = unique('gw-c');
    await call('PUT', `/v1/connections/${name}`, { ...as('admin'), body: connectionBody() });
    const body = pipelineBody();
    body.source = { connection: name, table: 'crm.customers' };
    expect((await call('POST', '/v1/pipelines', { ...as('alice'), body })).status).toBe(201);
    const res = await call('DELETE', `/v1/connections/${name}`, as('admin'));
    expect(res.status).toBe(409);
    expect(res.json().detail).toMatch(/used by 1 pipeline/);
  });

  it('responses carry only the named fields, whatever the store returns', () => {
    const leaky = {
      name: 'x', kind: 'postgres' as const, host: 'h', port: 1, database: 'd', vaultRole: 'database/creds/r', allowedSchemas: ['crm'],
      createdBy: 'a', createdAt: new Date().toISOString(), updatedBy: null, updatedAt: null,
      password: 'hunter2-hunter2', vaultToken: 's.abcdefgh',
    };
    expect(Object.keys(connectionView(leaky)).sort()).toEqual(
      ['allowedSchemas', 'createdAt', 'createdBy', 'database', 'host', 'kind', 'name', 'port', 'updatedAt', 'updatedBy', 'vaultRole'],
    );
  });

  it('the connection response schema drops fields it does not name', async () => {
    const app = Fastify({ logger: false });
    app.get('/leak', { schema: { response: { 200: ConnectionResponse } } }, async () => ({
      name: 'leaky', kind: 'postgres', host: 'h', port: 1, database: 'd', vaultRole: 'database/creds/r', allowedSchemas: ['crm'],
      createdBy: 'a', createdAt: new Date().toISOString(), updatedBy: null, updatedAt: null,
      password: 'hunter2-hunter2', vaultToken: 's.abcdefgh',
    }));
    const res = await app.inject({ method: 'GET', url: '/leak' });
    await app.close();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: 'leaky' });
    expect(res.body).not.toMatch(/hunter2|abcdefgh|password|vaultToken/);
  });
});

describe('artifacts', () => {
  it('lists versions with hashes, returns code, and diffs versions', async () => {
    const p = await newPipeline('alice');
    psqlAdmin('aoetl', artifactSql(p.id));
    const list = (await call('GET', `/v1/pipelines/${p.id}/artifacts`, as('reader'))).json();
    expect(list.items.map((a: { version: number }) => a.version)).toEqual([2, 1]);
    expect(list.items[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    const v1 = (await call('GET', `/v1/pipelines/${p.id}/artifacts/1`, as('reader'))).json();
    expect(v1.code).toContain('return rows');

    const diff = (await call('GET', `/v1/pipelines/${p.id}/artifacts/2/diff`, as('reader'))).json();
    expect(diff).toMatchObject({ from: { version: 1, sha256: list.items[1].sha256 }, to: { version: 2 }, additions: 1, deletions: 1 });
    expect(diff.unified).toContain('-    return rows');
    expect(diff.unified).toContain('+    return [r for r in rows if r.get("email")]');

    const first = (await call('GET', `/v1/pipelines/${p.id}/artifacts/1/diff`, as('reader'))).json();
    expect(first).toMatchObject({ from: null, additions: 2, deletions: 0 });
    const same = (await call('GET', `/v1/pipelines/${p.id}/artifacts/2/diff?against=2`, as('reader'))).json();
    expect(same).toMatchObject({ additions: 0, deletions: 0, unified: '' });
    expect((await call('GET', `/v1/pipelines/${p.id}/artifacts/3`, as('reader'))).status).toBe(404);
    expect((await call('GET', `/v1/pipelines/${p.id}/artifacts/2/diff?against=9`, as('reader'))).status).toBe(404);
    expect((await call('GET', `/v1/pipelines/${p.id}/artifacts`, as('carol'))).status).toBe(404);
  });
});

describe('audit', () => {
  it('reads the ledger: who did what, filtered and paginated, admins only, hashes instead of text', async () => {
    const p = await newPipeline('alice');
    const run = await newRun(p.id, 'alice');
    const comment = unique('private-comment');
    await call('POST', `/v1/runs/${run.runId}/approval`, { ...as('bob'), body: { decision: 'reject', comment } });

    expect((await call('GET', `/v1/audit?object=run:${run.runId}`, as('bob'))).status).toBe(403);
    const res = await call('GET', `/v1/audit?object=run:${run.runId}&limit=100`, as('admin'));
    expect(res.status).toBe(200);
    const actions = res.json().items.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['run.submitted', 'approval.rejected']));
    const rejection = res.json().items.find((e: { action: string }) => e.action === 'approval.rejected');
    expect(rejection).toMatchObject({ object: `run:${run.runId}`, actor: expect.stringMatching(/\|bob$/), payload: { commentSha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(res.text).not.toContain(comment);

    // Pages of 1 cover the same entries, newest first, without overlap.
    const seqs: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (await call('GET', `/v1/audit?object=run:${run.runId}&limit=1${cursor ? `&cursor=${cursor}` : ''}`, as('admin'))).json();
      seqs.push(...page.items.map((e: { seq: number }) => e.seq));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seqs).toEqual(res.json().items.map((e: { seq: number }) => e.seq));

    const onlyRejections = (await call('GET', `/v1/audit?object=run:${run.runId}&action=approval.rejected`, as('admin'))).json();
    expect(onlyRejections.items).toHaveLength(1);
    const verify = await call('GET', '/v1/audit/verify', as('admin'));
    expect(verify.status).toBe(200);
    expect(verify.json()).toMatchObject({ ok: true });
  });
});

describe('hygiene', () => {
  it('sets security headers and echoes the request id', async () => {
    const res = await call('GET', '/v1/pipelines?limit=1', { ...as('reader'), headers: { 'x-request-id': 'req-123' } });
    expect(res.headers['x-request-id']).toBe('req-123');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['x-ratelimit-limit']).toBeDefined();
  });

  it('answers 413 problem+json for a body over the limit, 415 for a non-JSON body', async () => {
    const big = await call('PUT', `/v1/connections/${unique('gw-c')}`, {
      ...as('admin'),
      body: { ...connectionBody(), host: 'a'.repeat(20_000) },
    });
    expect(big.status).toBe(413);
    expect(big.headers['content-type']).toMatch(/^application\/problem\+json/);
    const xml = await gw.app.inject({
      method: 'POST',
      url: '/v1/pipelines',
      headers: { ...as('alice'), 'content-type': 'application/xml' },
      payload: '<pipeline/>',
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('rate-limits per identity: one identity at its limit gets 429, another is unaffected', async () => {
    const limited = await buildTestGateway({}, { rateLimitPerMinute: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await limited.call('GET', '/v1/connections', as('reader'))).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const last = await limited.call('GET', '/v1/connections', as('reader'));
      expect(last.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(last.headers['retry-after']).toBeDefined();
      expect(last.json()).toMatchObject({ status: 429, title: 'too many requests' });
      expect((await limited.call('GET', '/v1/connections', as('bob'))).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('serves the OpenAPI document without a token', async () => {
    const json = await gw.app.inject({ method: 'GET', url: '/documentation/json' });
    expect(json.statusCode).toBe(404);
    expect(gw.app.swagger()).toMatchObject({ openapi: '3.1.0' });
  });
});
