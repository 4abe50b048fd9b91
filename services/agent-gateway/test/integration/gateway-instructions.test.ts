/**
 * Instruction transforms through buildApp + inject, over a throwaway control database migrated from this tree (the
 * artifact_provenance migration) and real tokens: an instruction is planned by the offline planner when its version
 * is written, stored with its code and provenance; an unchanged instruction keeps its artifact; an unmappable one
 * answers 422 naming the clause and writes nothing; a bad instruction answers 400 naming the field. A run of an
 * instruction pipeline is planned by the orchestrator's run machine (its own database role) like hand-written code.
 */
import { createHash, randomUUID } from 'node:crypto';
import { envelope } from '@aoetl/contracts';
import { createLogger } from '@aoetl/observability';
import { RunMachine } from '@aoetl/runs';
import { Store } from '@aoetl/store';
import { bearer, connectionBody, freshControlDb, pipelineBody, psqlAdmin, token as realToken, unique } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(120_000);

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const db = freshControlDb(`aoetl_instructions_it_${randomUUID().slice(0, 8)}`);
const store = new Store(db.pool('aoetl_gateway'), 'instructions-it');
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const COLUMNS = [{ name: 'id', type: 'integer' }, { name: 'email', type: 'text' }, { name: 'name', type: 'text' }];
const DEDUPE = 'Deduplicate customers by email, case-insensitively, keeping the lowest id. Lower-case emails.';
const TRIM = 'Trim name';
const instruction = (text: unknown, columns: unknown = COLUMNS) => ({ transform: { kind: 'instruction', text, columns } });
let gw: TestGateway;

beforeAll(async () => {
  for (const [name, database] of [['crm-source', 'source'], ['warehouse', 'warehouse']] as const) {
    await store.connections.put('acme', { name, ...connectionBody(), kind: 'postgres', database }, 'deploy');
  }
  gw = await buildTestGateway({}, { store });
});
afterAll(async () => {
  await gw?.close();
  await db.drop();
});

const provenanceRows = (pipelineId: string) =>
  psqlAdmin(db.name, `SELECT artifact_sha256, planner, planner_version, instruction_sha256, requested_by FROM artifact_provenance
    WHERE pipeline_id = '${pipelineId}' ORDER BY created_at`).split('\n').filter(Boolean);

describe('instruction transforms', () => {
  it('runs like hand-written code: the orchestrator plans the snapshot and sends the planned code with its artifact hash', async () => {
    const body = pipelineBody(unique('instr'), { ...instruction(DEDUPE), approval: { required: false } });
    const p = (await gw.call('POST', '/v1/pipelines', { ...as('alice'), body })).json();
    const submitted = await gw.call('POST', `/v1/pipelines/${p.id}/runs`, as('alice'));
    expect(submitted.status).toBe(202);
    const { runId } = submitted.json();
    const orchestrator = new Store(db.pool('aoetl_orchestrator'), 'instructions-it-orchestrator');
    const machine = new RunMachine(orchestrator, { limits: { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 }, defaultChunks: 2 }, createLogger({ name: 'instructions-it', level: 'silent' }));
    await machine.onRunRequested(envelope('run.requested', { runId, tenant: 'acme' }, { requestId: 'instructions-it' }));
    const run = await orchestrator.runs.getById(runId);
    expect(run).toMatchObject({ status: 'running', pipelineVersion: 1, artifactSha256: p.artifactSha256 });
    expect(run.snapshot?.transform).toEqual(p.spec.transform);
    expect(run.plan).toMatchObject({ transform: { language: 'python', code: p.spec.transform.code, sha256: p.artifactSha256 } });
    const loads = psqlAdmin(db.name, `SELECT message->'payload'->'transform'->>'sha256' FROM outbox WHERE message->>'type' = 'task.load' AND message->'payload'->>'runId' = '${runId}'`);
    // A deduplication compares rows across the whole source: the gateway plans it as one chunk (defaultChunks 2 unused).
    expect(p.spec.chunks).toBe(1);
    expect(p.spec.transform.explanation).toMatch(/Runs as one chunk/);
    expect(loads.split('\n')).toEqual([p.artifactSha256]);
  });

  it('plans the instruction when the version is written and stores code, explanation and provenance with the artifact', async () => {
    const res = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('instr'), instruction(DEDUPE)) });
    expect(res.status).toBe(201);
    const p = res.json();
    const t = p.spec.transform;
    expect(t).toMatchObject({ kind: 'instruction', text: DEDUPE, columns: COLUMNS, explanation: expect.stringMatching(/Deduplicate by email/) });
    expect(t.code).toMatch(/def transform\(rows\)/);
    expect(p.artifactSha256).toBe(sha256(t.code));
    expect(t.provenance).toEqual({
      planner: 'rules',
      plannerVersion: expect.stringMatching(/^rules-/),
      instructionSha256: sha256(DEDUPE),
      sampleSha256: null,
      codeSha256: p.artifactSha256,
      requestedBy: expect.stringMatching(/\|alice$/),
    });
    expect(provenanceRows(p.id)).toEqual([`${p.artifactSha256}|rules|${t.provenance.plannerVersion}|${sha256(DEDUPE)}|${t.provenance.requestedBy}`]);
    const version = (await gw.call('GET', `/v1/pipelines/${p.id}/versions/1`, as('reader'))).json();
    expect(version.spec.transform).toEqual(t);
  });

  it('keeps the artifact for an unchanged instruction; a changed one is a new artifact; a rollback restores code and provenance', async () => {
    const name = unique('instr');
    const p1 = (await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(name, instruction(DEDUPE)) })).json();
    const p2 = await gw.call('PUT', `/v1/pipelines/${p1.id}`, { ...as('admin'), body: pipelineBody(name, { ...instruction(DEDUPE), description: 'same instruction' }) });
    expect(p2.status).toBe(200);
    expect(p2.json()).toMatchObject({ version: 2, artifactSha256: p1.artifactSha256 });
    const p3 = (await gw.call('PUT', `/v1/pipelines/${p1.id}`, { ...as('admin'), body: pipelineBody(name, instruction(TRIM)) })).json();
    expect(p3.version).toBe(3);
    expect(p3.artifactSha256).not.toBe(p1.artifactSha256);
    const artifacts = (await gw.call('GET', `/v1/pipelines/${p1.id}/artifacts`, as('reader'))).json();
    expect(artifacts.items.map((a: { sha256: string }) => a.sha256)).toEqual([p3.artifactSha256, p1.artifactSha256]);
    // the first request that produced the bytes keeps the artifact's provenance
    const rows = provenanceRows(p1.id);
    expect(rows).toEqual([expect.stringMatching(new RegExp(`^${p1.artifactSha256}\\|.*\\|alice$`)), expect.stringMatching(new RegExp(`^${p3.artifactSha256}\\|.*\\|admin$`))]);

    const diff = (await gw.call('GET', `/v1/pipelines/${p1.id}/versions/1/diff/3`, as('reader'))).json();
    expect(diff.spec.unified).toContain(`-    "text": "${DEDUPE}"`);
    expect(diff.spec.unified).toContain(`+    "text": "${TRIM}"`);

    const rolled = await gw.call('POST', `/v1/pipelines/${p1.id}/rollback`, { ...as('admin'), body: { version: 1 } });
    expect(rolled.status).toBe(200);
    expect(rolled.json()).toMatchObject({ version: 4, artifactSha256: p1.artifactSha256 });
    expect(rolled.json().spec.transform).toEqual(p1.spec.transform);
  });

  it('answers 422 problem+json naming the clause it cannot map, and writes nothing', async () => {
    const name = unique('instr');
    const res = await gw.call('POST', '/v1/pipelines', {
      ...as('alice'),
      body: pipelineBody(name, instruction('Drop rows where email is null. Translate the name into French.')),
    });
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ type: 'urn:aoetl:problem:unmappable', status: 422, detail: expect.stringContaining("'Translate the name into French'") });
    expect(res.json().errors).toEqual([{ field: 'body/transform/text', message: expect.stringContaining('Translate the name into French') }]);
    const list = (await gw.call('GET', '/v1/pipelines?limit=100', as('reader'))).json();
    expect(list.items.map((p: { name: string }) => p.name)).not.toContain(name);
  });

  it('answers 400 naming the field for an empty, over-long or non-text instruction, one without columns, or one bringing its own code', async () => {
    const forged = { transform: { kind: 'instruction', text: TRIM, columns: COLUMNS, code: 'def transform(rows):\n    return []\n' } };
    for (const body of [instruction(''), instruction('x'.repeat(4097)), instruction(42), instruction(['Trim name']), instruction(TRIM, []), forged]) {
      const res = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('instr'), body) });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.json().errors)).toMatch(/body\/transform/);
    }
  });
});
