/**
 * Reliability on the real stack: processes are SIGKILLed and Redis restarted in the middle of runs; every
 * accepted run must end succeeded with every source row loaded exactly once (whole-table checksums and key
 * counts). CHAOS_KILLS sets the number of etl-agent kills (CI: 20; `make chaos`: 100).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  CUSTOMER_COLUMNS,
  REPO,
  api,
  copyFingerprint,
  customersPipeline,
  killService,
  psqlAdmin,
  redisAdminCli,
  stackScript,
  startServices,
  token,
  waitFor,
  waitForRun,
  warehouseTable,
} from '@aoetl/testing';

const KILLS = Number(process.env.CHAOS_KILLS ?? 20);
jest.setTimeout(Math.max(600_000, KILLS * 45_000));

const IDENTITY = 'def transform(rows):\n    return rows\n';
const SOURCE = psqlAdmin('source', copyFingerprint('crm.customers'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomBetween = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

async function submit(bearer: string, target: string, code = IDENTITY, chunks = 4): Promise<string> {
  const pipeline = await api('POST', '/v1/pipelines', {
    token: bearer,
    body: customersPipeline({ name: `rel-${Math.random().toString(16).slice(2, 10)}`, target, code, mode: 'append', chunks }),
  });
  expect(pipeline.status).toBe(201);
  const run = await api('POST', `/v1/pipelines/${pipeline.body.id}/runs`, { token: bearer });
  expect(run.status).toBe(202);
  return run.body.runId as string;
}

async function runStatus(bearer: string, runId: string): Promise<string> {
  return (await api('GET', `/v1/runs/${runId}`, { token: bearer })).body.status as string;
}

describe('reliability under failure', () => {
  const alice = token('alice');
  afterAll(() => startServices());

  test(`SIGKILL of the etl-agent ${KILLS} times mid-task: every run succeeds, 0 rows lost, 0 duplicated`, async () => {
    expect(Number(SOURCE.split(':')[0])).toBeGreaterThanOrEqual(100_000);
    let kills = 0;
    let runs = 0;
    const recoveries: number[] = [];
    const started = Date.now();
    while (kills < KILLS) {
      const target = warehouseTable('chaos', CUSTOMER_COLUMNS);
      const runId = await submit(alice, target);
      runs += 1;
      // Kill at random moments while the run is in flight (extract, transform, stage or commit).
      for (let k = 0; k < 4 && kills < KILLS; k++) {
        await sleep(randomBetween(300, 3000));
        if (['succeeded', 'failed'].includes(await runStatus(alice, runId))) break;
        killService('etl-agent');
        kills += 1;
        const t0 = Date.now();
        startServices();
        recoveries.push(Date.now() - t0);
      }
      const run = await waitForRun(runId, alice, 300_000);
      expect({ runId, status: run.status, error: run.error }).toEqual({ runId, status: 'succeeded', error: null });
      expect(psqlAdmin('warehouse', copyFingerprint(target))).toBe(SOURCE);
      psqlAdmin('warehouse', `DROP TABLE ${target}`);
    }
    const mean = recoveries.reduce((a, b) => a + b, 0) / Math.max(1, recoveries.length);
    process.stdout.write(
      `chaos: ${kills} etl-agent kills over ${runs} runs of ${SOURCE.split(':')[0]} rows in ${((Date.now() - started) / 1000).toFixed(0)} s; ` +
        `0 lost, 0 duplicated (checksums equal); agent restart mean ${mean.toFixed(0)} ms\n`,
    );
  });

  test('SIGKILL of the orchestrator mid-run: its runs complete after a restart', async () => {
    const targets = [0, 1].map(() => warehouseTable('orch', CUSTOMER_COLUMNS));
    const runIds = [];
    for (const t of targets) runIds.push(await submit(alice, t));
    await sleep(400);
    killService('orchestrator');
    await sleep(1500);
    startServices();
    for (const [i, runId] of runIds.entries()) {
      const run = await waitForRun(runId, alice, 300_000);
      expect(run.status).toBe('succeeded');
      expect(psqlAdmin('warehouse', copyFingerprint(targets[i]!))).toBe(SOURCE);
    }
  });

  test('a Redis restart in the middle of runs loses no accepted run', async () => {
    const targets = [0, 1, 2].map(() => warehouseTable('redis', CUSTOMER_COLUMNS));
    const runIds = [];
    for (const t of targets) runIds.push(await submit(alice, t));
    await sleep(1000);
    stackScript('redis.sh', 'stop');
    await sleep(1000);
    stackScript('redis.sh', 'start');
    for (const [i, runId] of runIds.entries()) {
      const run = await waitForRun(runId, alice, 300_000);
      expect(run.status).toBe('succeeded');
      expect(psqlAdmin('warehouse', copyFingerprint(targets[i]!))).toBe(SOURCE);
    }
    await waitFor('every service to be ready again', async () => {
      try {
        execFileSync('bash', [join(REPO, 'deploy/local/services.sh'), 'status'], { stdio: 'pipe' });
        return true;
      } catch {
        return undefined;
      }
    }, 60_000);
  });

  test('a poison message lands in the dead-letter stream with its reason, and its run fails with a clear reason', async () => {
    const target = warehouseTable('poison', CUSTOMER_COLUMNS);
    // Busy for 8 s within the code policy (no `time` module in the sandbox), so the run is still running.
    const slow =
      'import datetime\n\ndef transform(rows):\n    end = datetime.datetime.now() + datetime.timedelta(seconds=8)\n' +
      '    while datetime.datetime.now() < end:\n        pass\n    return rows\n';
    const runId = await submit(alice, target, slow, 1);
    await waitFor('the run to be running', async () => ((await runStatus(alice, runId)) === 'running' ? true : undefined), 60_000);

    const poison = JSON.stringify({ v: 1, type: 'run.requested', payload: { runId, tenant: 42 } });
    const entryId = redisAdminCli('XADD', 'aoetl:requests', '*', 'm', poison);

    const run = await waitForRun(runId, alice, 120_000);
    expect(run.status).toBe('failed');
    expect(run.error.code).toBe('poison_message');
    expect(run.error.message).toMatch(/dead-lettered: invalid message: \/\w* /);
    const letters = redisAdminCli('XREVRANGE', 'aoetl:deadletter', '+', '-', 'COUNT', '50');
    expect(letters).toContain(entryId);
    expect(letters).toMatch(/invalid message/);
    await sleep(12_000); // the slow chunk finishes after the abort and must not stage anything
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${target}`)).toBe('0');
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM pg_tables WHERE schemaname = 'aoetl_staging' AND tablename LIKE 'r_${runId.replace(/-/g, '')}%'`)).toBe('0');
  });
});
