/**
 * OpenBao stops in the middle of a run (issue: credentials). The run's first credential has been issued, then
 * OpenBao is stopped and started again at once (in-memory storage: it comes back empty and is configured
 * again, so every token and lease of the old one is gone). The run must either recover — fresh login, fresh
 * credentials, the full result in the target exactly once — or fail with a clear reason that names Vault and
 * holds no secret, with nothing loaded. Either way nothing is partially loaded.
 *
 * Stopping OpenBao disturbs everyone using the shared stack for a few seconds: this test keeps the outage
 * as short as a restart and always leaves OpenBao running.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  EXPECTED_CUSTOMERS,
  STATE,
  api,
  customersPipeline,
  customersTarget,
  demoTransform,
  psqlAdmin,
  stackScript,
  token,
  transformedChecksum,
  waitFor,
  waitForRun,
} from '@aoetl/testing';

jest.setTimeout(300_000);

const openbao = (cmd: 'start' | 'stop' | 'status') => stackScript('openbao.sh', cmd);

function agentLogFrom(offset: number): string {
  const text = readFileSync(join(STATE, 'logs', 'etl-agent.log'));
  return text.subarray(offset).toString('utf8');
}

/** Every value in .state/secrets: none may appear in the failure reason. */
function stackSecretValues(): string[] {
  const dir = join(STATE, 'secrets');
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8').trim()).filter((v) => v.length >= 8);
}

describe('OpenBao stops in the middle of a run', () => {
  test('the run recovers or fails with a clear reason, and the target is never partially loaded', async () => {
    const alice = token('alice');
    const target = customersTarget('outage');
    const created = await api('POST', '/v1/pipelines', { token: alice, body: customersPipeline({ target, code: demoTransform(), chunks: 4 }) });
    expect(created.status).toBe(201);

    const logOffset = statSync(join(STATE, 'logs', 'etl-agent.log')).size;
    const accepted = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: alice });
    expect(accepted.status).toBe(202);
    const runId = accepted.body.runId as string;

    // The middle of the run: the agent holds its first credential for this run.
    await waitFor(
      'the run to get its first credential',
      async () => (agentLogFrom(logOffset).split('\n').some((l) => l.includes('"audit":"credential.issued"') && l.includes(runId)) ? true : undefined),
      120_000,
      50,
    );
    const outageStarted = Date.now();
    try {
      openbao('stop');
    } finally {
      openbao('start'); // right away: in-memory OpenBao comes back empty and is configured again
    }
    const outageMs = Date.now() - outageStarted;

    const run = await waitForRun(runId, alice, 240_000);
    const agentLog = agentLogFrom(logOffset);
    // The outage was real for this run: the agent saw Vault fail (retries, a refused old token, a revoke that failed).
    expect(agentLog).toMatch(/vault unavailable; retrying|vault token rejected|lease revoke failed|credential lost/);

    const expected = psqlAdmin('source', transformedChecksum(EXPECTED_CUSTOMERS));
    const actual = psqlAdmin('warehouse', transformedChecksum(target));
    if (run.status === 'succeeded') {
      // Recovered: fresh credentials after OpenBao came back; the whole result, exactly once.
      expect(actual).toBe(expected);
      expect(run.rowsOut).toBe(Number(actual.split(':')[0]));
    } else {
      expect(run.status).toBe('failed');
      expect(`${run.error?.code} ${run.error?.message}`).toMatch(/vault|credential|lease/i);
      const reason = JSON.stringify(run.error);
      for (const secret of stackSecretValues()) expect(reason.includes(secret)).toBe(false);
      expect(actual.split(':')[0]).toBe('0');
    }
    // No staging table of this run is left behind in the target either way (an abort drops them shortly after).
    const stagingLeft = () =>
      psqlAdmin('warehouse', `SELECT count(*) FROM pg_tables WHERE schemaname = 'aoetl_staging' AND tablename LIKE 'r_${runId.replace(/-/g, '')}_%'`);
    await waitFor('the staging tables to be dropped', async () => (stagingLeft() === '0' ? true : undefined), 60_000);
    // And OpenBao is healthy again for everyone else.
    expect(openbao('status')).toContain('healthy');
    expect(outageMs).toBeLessThan(60_000);
  });
});
