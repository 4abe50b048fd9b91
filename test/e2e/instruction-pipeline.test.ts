/**
 * A pipeline written as a plain-language instruction, on the running services: the gateway plans it (offline
 * planner) into the version's artifact with its provenance; a run executes that artifact like hand-written code
 * (the orchestrator's snapshot, an etl-agent's policy check and sandbox); the target equals an expectation computed
 * independently in SQL on the source; the run record names the artifact, and its version names the provenance.
 */
import { createHash, randomBytes } from 'node:crypto';
import { bearer, liveClient, psqlAdmin, token as realToken, waitForRun } from '@aoetl/testing';

jest.setTimeout(300_000);

const call = liveClient();
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const suffix = randomBytes(4).toString('hex');
const SOURCE = `crm.instr_e2e_${suffix}`;
const TARGET = `silver.instr_e2e_${suffix}`;
const INSTRUCTION = 'Deduplicate customers by email, case-insensitively, keeping the lowest customer_id. Lower-case emails.';
const COLUMNS = [
  { name: 'customer_id', type: 'bigint' },
  { name: 'first_name', type: 'text' },
  { name: 'last_name', type: 'text' },
  { name: 'email', type: 'text' },
  { name: 'phone', type: 'text' },
  { name: 'country', type: 'text' },
  { name: 'created_at', type: 'timestamptz' },
  { name: 'lifetime_value', type: 'numeric' },
];
/** The same rows rendered the same way in both databases (psqlAdmin runs with TZ=UTC). */
const RENDER = `customer_id, first_name, last_name, email, phone, country, created_at, lifetime_value`;

beforeAll(() => {
  // 200 customers with e-mails, plus case variants of 20 of them under higher ids (the duplicates to remove)
  psqlAdmin(
    'source',
    `CREATE TABLE ${SOURCE} (LIKE crm.customers INCLUDING ALL);
     INSERT INTO ${SOURCE} SELECT * FROM crm.customers WHERE email IS NOT NULL ORDER BY customer_id LIMIT 200;
     INSERT INTO ${SOURCE} SELECT customer_id + 1000000000, first_name, last_name, upper(email), phone, country, created_at, lifetime_value
       FROM ${SOURCE} ORDER BY customer_id LIMIT 20;
     GRANT SELECT ON ${SOURCE} TO source_read;`,
  );
  psqlAdmin('warehouse', `CREATE TABLE ${TARGET} (${COLUMNS.map((c) => `${c.name} ${c.type === 'numeric' ? 'numeric(12,2)' : c.type}`).join(', ')});
    ALTER TABLE ${TARGET} OWNER TO warehouse_load;`);
});
afterAll(() => {
  psqlAdmin('source', `DROP TABLE IF EXISTS ${SOURCE}`);
  psqlAdmin('warehouse', `DROP TABLE IF EXISTS ${TARGET}`);
});

test('a pipeline created with an instruction runs; the target equals the SQL expectation; the run names the artifact and its provenance', async () => {
  const created = await call('POST', '/v1/pipelines', {
    ...as('alice'),
    body: {
      name: `instr-e2e-${suffix}`,
      source: { connection: 'crm-source', table: SOURCE },
      target: { connection: 'warehouse', table: TARGET, mode: 'append' },
      transform: { kind: 'instruction', text: INSTRUCTION, columns: COLUMNS },
      chunks: 2,
      approval: { required: false },
    },
  });
  expect(created.status).toBe(201);
  const p = created.json();
  const transform = p.spec.transform;
  expect(transform).toMatchObject({ kind: 'instruction', text: INSTRUCTION, provenance: { planner: 'rules', instructionSha256: sha256(INSTRUCTION) } });
  expect(p.artifactSha256).toBe(sha256(transform.code));

  const submitted = await call('POST', `/v1/pipelines/${p.id}/runs`, as('alice'));
  expect(submitted.status).toBe(202);
  const { runId, status } = submitted.json();
  if (status === 'awaiting_approval') {
    // the deployment's policy may require approvals for this mode: another identity approves
    expect((await call('POST', `/v1/runs/${runId}/approval`, { ...as('bob'), body: { decision: 'approve' } })).status).toBe(200);
  }
  const run = await waitForRun(runId, realToken('alice'));
  expect({ status: run.status, error: run.error ?? null }).toEqual({ status: 'succeeded', error: null });

  // the run record names the artifact; the version it ran names the artifact's provenance
  expect(run).toMatchObject({ pipelineId: p.id, pipelineVersion: 1, artifactSha256: p.artifactSha256 });
  const version = (await call('GET', `/v1/pipelines/${p.id}/versions/${run.pipelineVersion}`, as('reader'))).json();
  expect(version.spec.transform.provenance).toEqual({
    planner: 'rules',
    plannerVersion: expect.stringMatching(/^rules-/),
    instructionSha256: sha256(INSTRUCTION),
    sampleSha256: null,
    codeSha256: run.artifactSha256,
    requestedBy: expect.stringMatching(/\|alice$/),
  });
  const artifact = psqlAdmin('aoetl', `SELECT planner || ' ' || instruction_sha256 FROM artifact_provenance WHERE pipeline_id = '${p.id}' AND artifact_sha256 = '${run.artifactSha256}'`);
  expect(artifact).toBe(`rules ${sha256(INSTRUCTION)}`);

  // the target equals an expectation computed independently in SQL on the source
  const expected = psqlAdmin(
    'source',
    `SELECT ${RENDER} FROM (
       SELECT DISTINCT ON (lower(email)) customer_id, first_name, last_name, lower(email) AS email, phone, country, created_at, lifetime_value
       FROM ${SOURCE} ORDER BY lower(email), customer_id
     ) d ORDER BY customer_id`,
  );
  const actual = psqlAdmin('warehouse', `SELECT ${RENDER} FROM ${TARGET} ORDER BY customer_id`);
  const rows = expected.split('\n').length;
  expect(rows).toBeGreaterThan(150); // the 20 case variants (and any duplicates of the seed) removed, the rest kept
  expect(rows).toBeLessThanOrEqual(200);
  expect(actual).toBe(expected);
});
