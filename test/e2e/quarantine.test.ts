/**
 * Automatic quarantine on the real stack (docs/operations/quarantine.md). The stack's etl-agent (Redis user
 * `etl-agent`, consumer `etl-agent-1`) runs transforms that break the code policy until the monitor's threshold is
 * crossed; the last violating run is followed at once by a slow legitimate run, so the agent is holding that run's
 * chunk when the monitor isolates it. Afterwards: the agent's Redis user is refused, its Vault token is revoked, a
 * second etl-agent process started here (its own Redis user `etl-agent-2` and consumer name, its own Vault token;
 * only the quarantined agent's identity is cut off) reclaims the held entry and finishes the run, the metrics count
 * the quarantine and the audit ledger records it. The stack is restored at the end: the agent is released (an admin
 * action, audited too) and its readiness is checked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  CUSTOMER_COLUMNS,
  MONITOR,
  MONITOR_METRICS,
  REPO,
  api,
  customersPipeline,
  metricValue,
  psqlAdmin,
  stackEnv,
  stackRedis,
  token,
  vaultRequest,
  waitFor,
  waitForRun,
  warehouseTable,
} from '@aoetl/testing';

jest.setTimeout(420_000);

const AGENT = `${hostname()}/etl-agent-1`;
const SECOND_CONSUMER = 'etl-agent-q2';
const VIOLATING = 'import os\n\ndef transform(rows):\n    os.system("id")\n    return rows\n';
// Slow but allowed: holds its chunk for ~25 s (no time module in the sandbox policy; datetime is allowed).
const SLOW = [
  'import datetime',
  '',
  'def transform(rows):',
  '    end = datetime.datetime.now() + datetime.timedelta(seconds=25)',
  '    while datetime.datetime.now() < end:',
  '        pass',
  '    return rows',
  '',
].join('\n');

interface Step {
  step: string;
  outcome: 'done' | 'failed' | 'skipped';
  detail?: string;
}
interface AgentView {
  agentId: string;
  violations: number;
  quarantine?: { status: string; steps: Step[]; actor: string; identity?: { redisUser: string; vaultTokenAccessor?: string } };
}

const admin = () => token('admin');
async function monitorApi(method: string, path: string, body?: unknown) {
  const res = await fetch(`${MONITOR}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}
async function agents(): Promise<{ threshold: number; items: AgentView[] }> {
  const res = await monitorApi('GET', '/v1/admin/agents');
  if (res.status !== 200) throw new Error(`GET /v1/admin/agents: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
const agent = async (id: string) => (await agents()).items.find((a) => a.agentId === id);

async function startRun(code: string, prefix: string): Promise<string> {
  const alice = token('alice');
  const target = warehouseTable(prefix, CUSTOMER_COLUMNS);
  const pipeline = await api('POST', '/v1/pipelines', {
    token: alice,
    body: customersPipeline({ name: `${prefix}-${Date.now()}-${Math.random().toString(16).slice(2, 6)}`, target, code, mode: 'append', chunks: 1 }),
  });
  expect(pipeline.status).toBe(201);
  const accepted = await api('POST', `/v1/pipelines/${pipeline.body.id}/runs`, { token: alice });
  expect(accepted.status).toBe(202);
  return accepted.body.runId as string;
}

let second: ChildProcess | undefined;
let secondLog = '';

afterAll(async () => {
  // Restore the shared stack whatever happened: release the agent (an admin action), stop the second agent.
  const view = await agent(AGENT).catch(() => undefined);
  if (view?.quarantine) {
    const released = await monitorApi('POST', '/v1/admin/agents/release', { agentId: AGENT, reason: 'end of the quarantine e2e test' });
    if (released.status !== 200) console.error(`release of ${AGENT} failed: ${JSON.stringify(released.body)}`); // eslint-disable-line no-console
  }
  if (second && second.exitCode === null) {
    second.kill('SIGTERM');
    await new Promise((resolve) => second!.once('exit', resolve));
  }
  await waitFor('the stack etl-agent to be ready again', async () => ((await fetch('http://127.0.0.1:9103/readyz').catch(() => null))?.ok ? true : undefined), 60_000);
});

test('an agent that keeps breaking the policy is isolated, its held work finishes on another agent, and it is released', async () => {
  const before = await metricValue(MONITOR_METRICS, 'aoetl_agent_quarantined_total', { trigger: 'threshold' });
  const state = await agents();
  expect(state.threshold).toBeGreaterThan(0);
  const current = state.items.find((a) => a.agentId === AGENT);
  expect(current?.quarantine).toBeUndefined();

  // Violations up to one below the threshold, one run at a time (only the stack's agent consumes tasks now).
  for (let n = current?.violations ?? 0; n < state.threshold - 1; n++) {
    const run = await waitForRun(await startRun(VIOLATING, 'qviol'), token('alice'));
    expect(run.error?.code).toBe('policy_refused');
  }
  // The last violation, with a slow legitimate run queued right behind it: the agent takes it next.
  const lastViolation = await startRun(VIOLATING, 'qviol');
  const held = await startRun(SLOW, 'qheld');

  const isolated = await waitFor(
    'the monitor to quarantine the agent',
    async () => {
      const a = await agent(AGENT);
      return a?.quarantine && a.quarantine.status !== 'isolating' ? a : undefined;
    },
    120_000,
  );
  expect((await waitForRun(lastViolation, token('alice'))).error?.code).toBe('policy_refused');
  const q = isolated.quarantine!;
  const outcome = Object.fromEntries(q.steps.map((s) => [s.step, s]));
  expect(q.actor).toBe('monitor:threshold');
  expect(q.status).toBe('quarantined');
  expect(outcome['redis-user']).toMatchObject({ outcome: 'done', detail: 'user etl-agent off' });
  expect(outcome['redis-connections']?.outcome).toBe('done');
  expect(outcome['pending-work']?.outcome).toBe('done');
  expect(outcome['vault-token']).toMatchObject({ outcome: 'done' });
  expect(outcome['pod-label']?.outcome).toBe('skipped'); // not in Kubernetes here (see the quarantine's Kubernetes test)

  // The agent's Redis user is refused: a login as it fails (the user is off).
  const cutOff = stackRedis('etl-agent', stackEnv('test').AOETL_REDIS_ETL_AGENT_PASSWORD);
  await expect(cutOff.call('PING')).rejects.toThrow(/WRONGPASS|disabled|NOAUTH|NOPERM/);
  cutOff.disconnect();
  // Its Vault token is revoked (and with it its database leases).
  const accessor = q.identity?.vaultTokenAccessor;
  expect(accessor).toBeDefined();
  await expect(vaultRequest('POST', 'auth/token/lookup-accessor', { accessor })).rejects.toThrow(/400|invalid accessor/);

  // A second agent with its own identity picks up the run's pending work and finishes the run.
  const env = { ...process.env, ...stackEnv('etl-agent') };
  second = spawn(process.execPath, [join(REPO, 'services/etl-agent/dist/server.js')], {
    env: {
      ...env,
      AOETL_REDIS_USERNAME: 'etl-agent-2',
      AOETL_REDIS_PASSWORD: stackEnv('test').AOETL_REDIS_ETL_AGENT_2_PASSWORD,
      AOETL_CONSUMER_NAME: SECOND_CONSUMER,
      AOETL_METRICS_PORT: '19113',
      AOETL_SANDBOX_POOL_SIZE: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  second.stdout!.on('data', (d: Buffer) => (secondLog += d.toString()));
  second.stderr!.on('data', (d: Buffer) => (secondLog += d.toString()));
  const done = await waitForRun(held, token('alice'), 300_000);
  expect(done.status).toBe('succeeded');
  // Whether the quarantined agent had taken the task before it was cut off (the second agent then reclaims the
  // entry it held) or not (the second agent reads it fresh) is a race; either way the second agent runs it.
  expect(secondLog).toMatch(new RegExp(`"runId":"${held}"`));

  // Metrics and the audit ledger (platform chain).
  expect(await metricValue(MONITOR_METRICS, 'aoetl_agent_quarantined_total', { trigger: 'threshold' })).toBe(before + 1);
  expect(await metricValue(MONITOR_METRICS, 'aoetl_agents_quarantined')).toBeGreaterThanOrEqual(1);
  const audited = await waitFor(
    'the quarantine in the audit ledger',
    async () => {
      const out = psqlAdmin(
        'aoetl',
        `SELECT payload::text FROM audit_ledger WHERE tenant = '_platform' AND action = 'agent.quarantined' AND object = 'agent:${AGENT}' ORDER BY seq DESC LIMIT 1`,
      );
      return out ? (JSON.parse(out) as { steps: Step[]; reason: string }) : undefined;
    },
    30_000,
  );
  expect(audited.steps.find((s) => s.step === 'vault-token')?.outcome).toBe('done');
  expect(audited.reason).toMatch(/violations within/);

  // Release (admin): the user logs in again; the release is audited.
  const released = await monitorApi('POST', '/v1/admin/agents/release', { agentId: AGENT, reason: 'test over' });
  expect(released.status).toBe(200);
  const back = stackRedis('etl-agent', stackEnv('test').AOETL_REDIS_ETL_AGENT_PASSWORD);
  await expect(back.call('PING')).resolves.toBe('PONG');
  back.disconnect();
  await waitFor(
    'the release in the audit ledger',
    async () =>
      psqlAdmin('aoetl', `SELECT count(*) FROM audit_ledger WHERE tenant = '_platform' AND action = 'agent.released' AND object = 'agent:${AGENT}'`) !== '0' ? true : undefined,
    30_000,
  );
  expect((await agent(AGENT))?.quarantine).toBeUndefined();
});
