/**
 * One pipeline through all four services on the real stack: a real OIDC token, the gateway, the orchestrator
 * over Redis streams, an etl-agent with Vault credentials and the Docker sandbox, the warehouse, the monitor.
 */
import { randomBytes } from 'node:crypto';
import {
  EXPECTED_CUSTOMERS,
  MONITOR_METRICS,
  api,
  customersPipeline,
  customersTarget,
  demoTransform,
  metricValue,
  psqlAdmin,
  token,
  transformedChecksum,
  waitFor,
  waitForRun,
} from '@aoetl/testing';

jest.setTimeout(300_000);

const freshTarget = () => customersTarget('e2e');
const pipelineBody = (target: string, code: string) => customersPipeline({ target, code });

const pipelineCount = (name: string) => psqlAdmin('aoetl', `SELECT count(*) FROM pipelines WHERE name = '${name}'`);

describe('walking skeleton on the real stack', () => {
  const alice = token('alice');
  const demoCode = demoTransform();

  test('a run succeeds, the target equals the expected rows, and the monitor counts it', async () => {
    const target = freshTarget();
    const succeededBefore = await metricValue(MONITOR_METRICS, 'aoetl_runs_total', { status: 'succeeded' });
    const rowsBefore = await metricValue(MONITOR_METRICS, 'aoetl_rows_loaded_total');

    const created = await api('POST', '/v1/pipelines', { token: alice, body: pipelineBody(target, demoCode) });
    expect(created.status).toBe(201);
    const accepted = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: alice });
    expect(accepted.status).toBe(202);

    const run = await waitForRun(accepted.body.runId, alice);
    expect(run.error).toBeNull();
    expect(run.status).toBe('succeeded');
    expect(run.artifactSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(run.steps.map((s: { status: string }) => s.status)).toEqual(['queued', 'planning', 'running', 'succeeded']);

    const expected = psqlAdmin('source', transformedChecksum(EXPECTED_CUSTOMERS));
    const actual = psqlAdmin('warehouse', transformedChecksum(target));
    expect(Number(expected.split(':')[0])).toBeGreaterThan(100_000);
    expect(actual).toBe(expected);
    expect(run.rowsOut).toBe(Number(actual.split(':')[0]));
    expect(run.rowsIn).toBe(Number(psqlAdmin('source', 'SELECT count(*) FROM crm.customers')));

    await waitFor(
      'the monitor to count the run',
      async () => ((await metricValue(MONITOR_METRICS, 'aoetl_runs_total', { status: 'succeeded' })) >= succeededBefore + 1 ? true : undefined),
      15_000,
    );
    expect(await metricValue(MONITOR_METRICS, 'aoetl_rows_loaded_total')).toBeGreaterThanOrEqual(rowsBefore + run.rowsOut);
    expect(await metricValue(MONITOR_METRICS, 'aoetl_run_duration_seconds_count', { status: 'succeeded' })).toBeGreaterThanOrEqual(1);
  });

  test('a transform that raises fails the run with the Python error and loads nothing', async () => {
    const target = freshTarget();
    const code = 'def transform(rows):\n    raise ValueError("bad row: %d" % len(rows))\n';
    const created = await api('POST', '/v1/pipelines', { token: alice, body: pipelineBody(target, code) });
    expect(created.status).toBe(201);
    const accepted = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: alice });
    const run = await waitForRun(accepted.body.runId, alice);
    expect(run.status).toBe('failed');
    // A reader sees the code, the exception type and a scrubbed message, never the traceback (row values could be in it).
    expect(run.error.pythonType).toBe('ValueError');
    expect(run.error.message).toContain('bad row:');
    expect(run.error.traceback).toBeUndefined();
    // The tenant's admin sees the whole error (PII-masked).
    const full = await api('GET', `/v1/runs/${accepted.body.runId}`, { token: token('admin') });
    expect(full.body.error.traceback).toContain('transform');
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${target}`)).toBe('0');
  });

  test('the same Idempotency-Key twice gives the same run', async () => {
    const created = await api('POST', '/v1/pipelines', { token: alice, body: pipelineBody(freshTarget(), demoCode) });
    const headers = { 'idempotency-key': `k-${randomBytes(6).toString('hex')}` };
    const first = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: alice, headers });
    const second = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: alice, headers });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.runId).toBe(first.body.runId);
    expect(second.body.created).toBe(false);
    await waitForRun(first.body.runId, alice);
  });

  test('an unknown connection gets a 400 naming the field, and nothing is stored', async () => {
    const body = pipelineBody('silver.customers', demoCode);
    body.source.connection = 'no-such-db';
    const res = await api('POST', '/v1/pipelines', { token: alice, body });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'body/source/connection' })]);
    expect(pipelineCount(body.name)).toBe('0');
  });

  test('an invalid body gets a 400 naming the field, and nothing is stored', async () => {
    const body: any = pipelineBody('silver.customers', demoCode);
    body.target.mode = 'upsert-please';
    body.source.table = 'crm.customers; DROP TABLE crm.customers';
    const res = await api('POST', '/v1/pipelines', { token: alice, body });
    expect(res.status).toBe(400);
    const fields = res.body.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['body/target/mode', 'body/source/table']));
    expect(pipelineCount(body.name)).toBe('0');
  });

  test('a missing or garbage token gets a 401 problem, and nothing is stored', async () => {
    const body = pipelineBody('silver.customers', demoCode);
    const missing = await api('POST', '/v1/pipelines', { body });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const garbage = await api('POST', '/v1/pipelines', { body, token: 'a.b.c' });
    expect(garbage.status).toBe(401);
    expect(pipelineCount(body.name)).toBe('0');
  });

  test('another tenant cannot see the run (404, existence does not leak)', async () => {
    const created = await api('POST', '/v1/pipelines', { token: alice, body: pipelineBody(freshTarget(), demoCode) });
    const carol = token('carol');
    expect((await api('GET', `/v1/pipelines/${created.body.id}`, { token: carol })).status).toBe(404);
    expect((await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: carol })).status).toBe(404);
  });
});
