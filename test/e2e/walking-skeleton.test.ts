/**
 * One pipeline through all four services on the real stack: a real OIDC token, the gateway, the orchestrator
 * over Redis streams, an etl-agent with Vault credentials and the Docker sandbox, the warehouse, the monitor.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MONITOR_METRICS, REPO, api, metricValue, psqlAdmin, token, waitFor, waitForRun } from '../support/stack';

jest.setTimeout(300_000);

const COLUMNS = 'email, customer_id, first_name, last_name, phone, country, created_at, lifetime_value::numeric(12,2)';
const checksum = (from: string) =>
  `SELECT count(*) || ':' || md5(coalesce(string_agg(row(${COLUMNS})::text, E'\\n' ORDER BY email), '')) FROM ${from}`;

/** What the demo transform must produce, computed independently in SQL on the source. */
const EXPECTED = `(
  SELECT DISTINCT ON (e.email) e.email, c.customer_id, c.first_name, c.last_name, c.phone, c.country, c.created_at, c.lifetime_value
  FROM crm.customers c CROSS JOIN LATERAL (SELECT lower(btrim(coalesce(c.email, ''), E' \\t\\n\\r\\f' || chr(11))) AS email) e
  WHERE e.email ~ '^[^@[:space:]]+@[^@[:space:]]+\\.[a-z]{2,}$'
  ORDER BY e.email, c.customer_id
) expected`;

function freshTarget(): string {
  const table = `silver.e2e_${randomBytes(4).toString('hex')}`;
  psqlAdmin(
    'warehouse',
    `CREATE TABLE ${table} (LIKE silver.customers INCLUDING ALL); ALTER TABLE ${table} OWNER TO warehouse_load;`,
  );
  return table;
}

function pipelineBody(target: string, code: string, name = `e2e-${randomBytes(4).toString('hex')}`) {
  return {
    name,
    source: { connection: 'crm-source', table: 'crm.customers' },
    target: { connection: 'warehouse', table: target, mode: 'merge', keys: ['email'] },
    transform: { kind: 'python', code },
  };
}

const pipelineCount = (name: string) => psqlAdmin('aoetl', `SELECT count(*) FROM pipelines WHERE name = '${name}'`);

describe('walking skeleton on the real stack', () => {
  const alice = token('alice');
  const demoCode = readFileSync(join(REPO, 'examples/customers_transform.py'), 'utf8');

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

    const expected = psqlAdmin('source', checksum(EXPECTED));
    const actual = psqlAdmin('warehouse', checksum(target));
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
    expect(run.error.pythonType).toBe('ValueError');
    expect(run.error.message).toContain('bad row:');
    expect(run.error.traceback).toContain('transform');
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
