import { NotFoundError, envelope, type EventMessage, type QuarantineAudit } from '@aoetl/contracts';
import { Registry, createLogger } from '@aoetl/observability';
import { QuarantineService, type QuarantineOptions } from './quarantine.js';
import type { PodIsolation, QuarantineRecord, QuarantineState, RedisIsolation, SeenIdentity, VaultIsolation } from './ports.js';

const RUN = '00000000-0000-4000-8000-000000000001';
const TASK = '00000000-0000-4000-8000-000000000002';
const logger = createLogger({ name: 'test', level: 'silent' });

class MemoryState implements QuarantineState {
  readonly violations = new Map<string, Map<string, number>>();
  readonly ids: Record<string, SeenIdentity> = {};
  readonly recs: Record<string, QuarantineRecord> = {};
  async countViolation(agentId: string, eventId: string, atMs: number, windowMs: number) {
    const m = this.violations.get(agentId) ?? new Map<string, number>();
    this.violations.set(agentId, m);
    if (!m.has(eventId)) m.set(eventId, atMs);
    for (const [k, at] of m) if (at <= atMs - windowMs) m.delete(k);
    return m.size;
  }
  async violationCount(agentId: string) {
    return this.violations.get(agentId)?.size ?? 0;
  }
  async clearViolations(agentId: string) {
    this.violations.delete(agentId);
  }
  async saveIdentity(agentId: string, seen: SeenIdentity) {
    this.ids[agentId] = seen;
  }
  async identities() {
    return { ...this.ids };
  }
  async claimRecord(agentId: string, record: QuarantineRecord) {
    if (this.recs[agentId]) return false;
    this.recs[agentId] = record;
    return true;
  }
  async saveRecord(agentId: string, record: QuarantineRecord) {
    this.recs[agentId] = record;
  }
  async deleteRecord(agentId: string) {
    delete this.recs[agentId];
  }
  async records() {
    return { ...this.recs };
  }
}

class FakeRedis implements RedisIsolation {
  readonly users = new Map([['etl-agent', true], ['etl-agent-2', true], ['admin', true]]);
  readonly pending = new Map<string, string[]>([['aoetl:tasks|etl-agent|etl-agent-1', ['1-0', '2-0']]]);
  readonly released: string[] = [];
  failDisable = 0;
  async disableUser(user: string) {
    if (this.failDisable > 0) {
      this.failDisable -= 1;
      throw new Error('connection reset');
    }
    if (!this.users.has(user)) return false;
    this.users.set(user, false);
    return true;
  }
  async enableUser(user: string) {
    if (!this.users.has(user)) return false;
    this.users.set(user, true);
    return true;
  }
  async userEnabled(user: string) {
    return this.users.get(user) ?? null;
  }
  async killConnections() {
    return 2;
  }
  async releasePending(stream: string, group: string, consumer: string) {
    const ids = this.pending.get(`${stream}|${group}|${consumer}`) ?? [];
    this.released.push(...ids);
    return ids;
  }
}

class FakeVault implements VaultIsolation {
  readonly valid = new Set(['acc.agent1']);
  async revokeTokenAccessor(accessor: string) {
    if (!this.valid.delete(accessor)) throw new NotFoundError('vault knows no such token');
  }
  async tokenAccessorValid(accessor: string) {
    return this.valid.has(accessor);
  }
}

class FakePods implements PodIsolation {
  readonly calls: string[] = [];
  async label(ns: string, name: string, key: string, value: string) {
    this.calls.push(`label ${ns}/${name} ${key}=${value}`);
  }
  async delete(ns: string, name: string) {
    this.calls.push(`delete ${ns}/${name}`);
  }
}

const OPTIONS: QuarantineOptions = {
  threshold: 3,
  windowMs: 60_000,
  workStreams: [{ stream: 'aoetl:tasks', group: 'etl-agent' }],
  allowedRedisUsers: /^etl-agent(-[a-z0-9]+)?$/,
  podLabel: 'aoetl.io/quarantine',
  staleMs: 30_000,
  attempts: 2,
};

function setup(opts: Partial<QuarantineOptions> = {}, withPods = false) {
  const state = new MemoryState();
  const redis = new FakeRedis();
  const vault = new FakeVault();
  const pods = new FakePods();
  const audits: QuarantineAudit[] = [];
  const registry = new Registry();
  const service = new QuarantineService(
    { redis, state, vault, ...(withPods ? { pods } : {}), publishAudit: async (m) => audits.push(m), registry, logger },
    { ...OPTIONS, ...opts },
  );
  return { service, state, redis, vault, pods, audits, registry };
}

const heartbeat = (agentId: string, redisUser: string, consumer: string, extra: object = {}): EventMessage =>
  envelope('agent.heartbeat', { agentId, service: 'etl-agent', identity: { redisUser, consumer, vaultTokenAccessor: 'acc.agent1', ...extra } }, { requestId: agentId });
const violation = (agentId: string): EventMessage =>
  envelope(
    'task.failed',
    { taskId: TASK, runId: RUN, agentId, step: 'load' as const, chunk: 0, error: { code: 'policy_refused' as const, message: 'import os', violation: true } },
    { requestId: 'r' },
  );
const ordinaryFailure = (agentId: string): EventMessage =>
  envelope('task.failed', { taskId: TASK, runId: RUN, agentId, step: 'load' as const, chunk: 0, error: { code: 'transform' as const, message: 'boom' } }, { requestId: 'r' });

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

test('crossing the threshold isolates the agent: Redis user off, connections closed, held entries handed back, token revoked', async () => {
  const { service, state, redis, vault, audits, registry } = setup();
  await service.onEvent(heartbeat('h/etl-agent-1', 'etl-agent', 'etl-agent-1'));
  await service.onEvent(violation('h/etl-agent-1'));
  await service.onEvent(ordinaryFailure('h/etl-agent-1')); // not a violation: not counted
  await service.onEvent(violation('h/etl-agent-1'));
  expect(state.recs['h/etl-agent-1']).toBeUndefined();
  await service.onEvent(violation('h/etl-agent-1'));

  const record = state.recs['h/etl-agent-1']!;
  expect(record.status).toBe('quarantined');
  expect(record.actor).toBe('monitor:threshold');
  expect(Object.fromEntries(record.steps.map((s) => [s.step, s.outcome]))).toEqual({
    'redis-user': 'done',
    'redis-connections': 'done',
    'pending-work': 'done',
    'vault-token': 'done',
    'pod-label': 'skipped',
    'pod-delete': 'skipped',
  });
  expect(redis.users.get('etl-agent')).toBe(false);
  expect(redis.users.get('etl-agent-2')).toBe(true);
  expect(redis.released).toEqual(['1-0', '2-0']);
  expect(vault.valid.has('acc.agent1')).toBe(false);
  expect(audits.map((a) => a.payload.event)).toEqual(['agent.quarantined']);
  expect(await metric(registry, 'aoetl_agent_quarantined_total', { trigger: 'threshold' })).toBe(1);
  expect(await metric(registry, 'aoetl_agents_quarantined')).toBe(1);
});

test('a redelivered violation is counted once', async () => {
  const { service, state } = setup();
  const v = violation('a');
  for (let i = 0; i < 5; i++) await service.onEvent(v);
  expect(state.recs.a).toBeUndefined();
  expect(await state.violationCount('a')).toBe(1);
});

test('a failing step is retried, reported as partial, and finished by reconcile', async () => {
  const { service, state, redis, audits } = setup();
  await service.onEvent(heartbeat('a', 'etl-agent', 'etl-agent-1'));
  redis.failDisable = 5; // more than the step's attempts
  const record = await service.quarantine('a', { actor: 'user:x', reason: 'suspicious', trigger: 'admin' });
  expect(record.status).toBe('partial');
  expect(record.steps.find((s) => s.step === 'redis-user')).toMatchObject({ outcome: 'failed', detail: 'connection reset' });
  expect(audits).toHaveLength(1);
  redis.failDisable = 0;
  await service.reconcile();
  expect(state.recs.a!.status).toBe('quarantined');
  expect(redis.users.get('etl-agent')).toBe(false);
  expect(audits).toHaveLength(2); // the completed isolation is audited again
});

test('a user switched on behind the quarantine (ACL reload) is switched off again by reconcile', async () => {
  const { service, redis } = setup();
  await service.onEvent(heartbeat('a', 'etl-agent', 'etl-agent-1'));
  await service.quarantine('a', { actor: 'user:x', reason: 'r', trigger: 'admin' });
  redis.users.set('etl-agent', true);
  await service.reconcile();
  expect(redis.users.get('etl-agent')).toBe(false);
});

test('an agent naming a Redis user outside the allowed pattern is not obeyed', async () => {
  const { service, redis } = setup();
  await service.onEvent(heartbeat('a', 'admin', 'etl-agent-1'));
  const record = await service.quarantine('a', { actor: 'user:x', reason: 'r', trigger: 'admin' });
  expect(redis.users.get('admin')).toBe(true);
  expect(record.status).toBe('partial');
  expect(record.steps.find((s) => s.step === 'redis-user')?.detail).toMatch(/may not be switched off/);
});

test('a Redis user shared with a healthy agent stays on; the pod steps isolate the agent', async () => {
  const { service, redis, pods, state } = setup({}, true);
  const pod = { pod: { namespace: 'aoetl', name: 'etl-agent-7f9-abc' } };
  await service.onEvent(heartbeat('a', 'etl-agent', 'etl-agent-a', pod));
  await service.onEvent({ ...heartbeat('b', 'etl-agent', 'etl-agent-b'), at: new Date().toISOString() });
  const record = await service.quarantine('a', { actor: 'user:x', reason: 'r', trigger: 'admin' });
  expect(redis.users.get('etl-agent')).toBe(true);
  expect(record.steps.find((s) => s.step === 'redis-user')).toMatchObject({ outcome: 'skipped' });
  expect(pods.calls).toEqual(['label aoetl/etl-agent-7f9-abc aoetl.io/quarantine=true', 'delete aoetl/etl-agent-7f9-abc']);
  expect(state.recs.a!.status).toBe('quarantined');
});

test('without a heartbeat identity the quarantine is recorded as partial, never as done', async () => {
  const { service } = setup();
  const record = await service.quarantine('ghost', { actor: 'user:x', reason: 'r', trigger: 'admin' });
  expect(record.status).toBe('partial');
  expect(record.steps[0]).toMatchObject({ step: 'redis-user', outcome: 'failed' });
});

test('quarantining twice conflicts; release switches the user on, forgets violations and is audited', async () => {
  const { service, state, redis, audits, registry } = setup();
  await service.onEvent(heartbeat('a', 'etl-agent', 'etl-agent-1'));
  await service.onEvent(violation('a'));
  await service.quarantine('a', { actor: 'user:x', reason: 'r', trigger: 'admin' });
  await expect(service.quarantine('a', { actor: 'user:x', reason: 'r', trigger: 'admin' })).rejects.toThrow(/already in quarantine/);
  await service.release('a', 'user:y', 'fixed');
  expect(redis.users.get('etl-agent')).toBe(true);
  expect(state.recs.a).toBeUndefined();
  expect(await state.violationCount('a')).toBe(0);
  expect(audits.map((m) => [m.payload.event, m.payload.actor])).toEqual([
    ['agent.quarantined', 'user:x'],
    ['agent.released', 'user:y'],
  ]);
  expect(await metric(registry, 'aoetl_agents_quarantined')).toBe(0);
  await expect(service.release('a', 'user:y', 'again')).rejects.toThrow(/not in quarantine/);
});

test('threshold 0 never quarantines automatically', async () => {
  const { service, state } = setup({ threshold: 0 });
  for (let i = 0; i < 10; i++) await service.onEvent(violation('a'));
  expect(state.recs.a).toBeUndefined();
});
