/**
 * Row data in run errors (issue 13, finding 7): a failure stored with an email in its message and traceback reaches
 * `read` users as a code and a message with every value replaced by its type and length, and the tenant's admins
 * masked, over the real control database and real tokens; on GET /v1/runs/:id, the run list and the event stream.
 */
import { bearer, pipelineBody, psqlAdmin, token as realToken, unique } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(60_000);

let gw: TestGateway;
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const EMAIL = 'alice.secret@example.com';
const FAILURE = {
  code: 'transform',
  message: `psycopg.errors.InvalidTextRepresentation: invalid input syntax for type bigint: "${EMAIL}"`,
  pythonType: 'InvalidTextRepresentation',
  traceback: `Traceback (most recent call last):\n  File "transform.py", line 3, in transform\n    int(row['email'])  # ${EMAIL}\nValueError`,
};
let runId: string;

beforeAll(async () => {
  gw = await buildTestGateway();
  const pipeline = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('run-errors')) });
  expect(pipeline.status).toBe(201);
  const run = await gw.call('POST', `/v1/pipelines/${pipeline.json().id}/runs`, as('alice'));
  expect(run.status).toBe(202);
  runId = run.json().runId;
  const error = JSON.stringify(FAILURE).replaceAll("'", "''");
  psqlAdmin('aoetl', `UPDATE runs SET status = 'failed', error = '${error}'::jsonb WHERE id = '${runId}'`);
  psqlAdmin('aoetl', `INSERT INTO run_steps (run_id, status, detail) VALUES ('${runId}', 'failed', '{"error": ${error}}'::jsonb)`);
});
afterAll(async () => gw?.close());

describe('a stored run error with row data in it', () => {
  it('reaches a read user as a code and a redacted message, without the traceback', async () => {
    const res = await gw.call('GET', `/v1/runs/${runId}`, as('reader'));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('alice.secret');
    expect(res.text).not.toContain('example.com');
    expect(res.json().error).toEqual({
      code: 'transform',
      pythonType: 'InvalidTextRepresentation',
      message: 'psycopg.errors.InvalidTextRepresentation: invalid input syntax for type bigint: <text:24>',
    });
    const failedStep = res.json().steps.find((s: { status: string }) => s.status === 'failed');
    expect(failedStep.detail.error).toEqual(res.json().error);

    const list = await gw.call('GET', `/v1/runs?pipelineId=${res.json().pipelineId}`, as('reader'));
    expect(list.status).toBe(200);
    expect(list.text).not.toContain('alice.secret');
    expect(list.json().items[0].error.message).toContain('<text:24>');
  });

  it('reaches a read user on the event stream redacted too', async () => {
    const res = await gw.call('GET', `/v1/runs/${runId}/events?timeoutSeconds=1`, as('reader'));
    expect(res.status).toBe(200);
    expect(res.text).toContain('event: status');
    expect(res.text).toContain('<text:24>');
    expect(res.text).not.toContain('alice.secret');
  });

  it('reaches the tenant admin whole but with the email masked', async () => {
    const res = await gw.call('GET', `/v1/runs/${runId}`, as('admin'));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('alice.secret');
    const { error } = res.json();
    expect(error.code).toBe('transform');
    expect(error.message).toMatch(/^psycopg\.errors\.InvalidTextRepresentation: invalid input syntax for type bigint: "[^"@]+@[^"]+"$/);
    expect(error.traceback).toContain('int(row[\'email\'])');
    expect(error.traceback).toMatch(/# \S+@\S+/);
  });
});
