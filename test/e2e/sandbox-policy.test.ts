/** The etl-agent checks every transform against the code policy before running it; a refusal fails the run. */
import { CUSTOMER_COLUMNS, MONITOR_METRICS, api, customersPipeline, metricValue, psqlAdmin, token, waitFor, waitForRun, warehouseTable } from '@aoetl/testing';

jest.setTimeout(120_000);

test('a transform that breaks the code policy fails its run as a violation, and nothing is loaded', async () => {
  const alice = token('alice');
  const target = warehouseTable('policy', CUSTOMER_COLUMNS);
  const before = await metricValue(MONITOR_METRICS, 'aoetl_sandbox_violations_total', { code: 'policy_refused' });
  const code = 'import os\n\ndef transform(rows):\n    os.system("id")\n    return rows\n';
  const pipeline = await api('POST', '/v1/pipelines', {
    token: alice,
    body: customersPipeline({ name: `policy-${Date.now()}`, target, code, mode: 'append', chunks: 2 }),
  });
  expect(pipeline.status).toBe(201);
  const accepted = await api('POST', `/v1/pipelines/${pipeline.body.id}/runs`, { token: alice });
  const run = await waitForRun(accepted.body.runId, alice);
  expect(run.status).toBe('failed');
  expect(run.error.code).toBe('policy_refused');
  expect(run.error.violation).toBe(true);
  // A reader's message has the quoted names scrubbed; the tenant's admin sees which module.
  expect(run.error.message).toMatch(/line 1: import/);
  const full = await api('GET', `/v1/runs/${accepted.body.runId}`, { token: token('admin') });
  expect(full.body.error.message).toMatch(/line 1: .*os/);
  expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${target}`)).toBe('0');
  await waitFor(
    'the monitor to count the violation',
    async () => ((await metricValue(MONITOR_METRICS, 'aoetl_sandbox_violations_total', { code: 'policy_refused' })) > before ? true : undefined),
    15_000,
  );
});
