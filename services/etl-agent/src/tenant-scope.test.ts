import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { LoadTask, TaskFailed } from '@aoetl/contracts';
import type { LoadResult } from '@aoetl/etl';
import { parseTenantScope, type SecretStore } from '@aoetl/secrets';
import { taskHandler, type TaskSteps } from './task-handler.js';
import { scopedSteps } from './tenant-scope.js';

const RESULT: LoadResult = { rowsIn: 1, rowsOut: 1, bytesIn: 1, bytesOut: 1, durationMs: 1 };
const conn = (name: string, vaultRole: string, host = 'db.acme.internal') => ({ name, kind: 'postgres' as const, host, port: 5432, database: 'd', vaultRole });

function loadTask(tenant: string, source = conn('crm', 'database/creds/acme-reader')): LoadTask {
  return {
    v: 1,
    id: randomUUID(),
    type: 'task.load',
    requestId: 'req-1',
    at: new Date().toISOString(),
    payload: {
      taskId: randomUUID(),
      runId: randomUUID(),
      tenant,
      source: { connection: source, table: 'crm.customers' },
      target: { connection: conn('warehouse', 'database/creds/acme-writer'), table: 'silver.t', mode: 'append', keys: [] },
      transform: { language: 'python', code: 'def transform(rows): return rows', sha256: 'a'.repeat(64) },
      limits: { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 },
      chunk: { index: 0, count: 1 },
    },
  };
}

/** The agent's handler over scoped steps; records the steps that really ran (none may for a refused task). */
function agent() {
  const ran: string[] = [];
  const published: { type: string; payload?: unknown }[] = [];
  const steps: TaskSteps = {
    loadChunk: async (t) => (ran.push(`load ${t.source.connection.vaultRole}`), RESULT),
    commitRun: async (t) => (ran.push(t.action), RESULT),
  };
  const handle = taskHandler({
    agentId: 'agent-1',
    attempts: 3,
    publish: async (_stream, message) => void published.push(message),
    logger: pino({ level: 'silent' }),
    steps: scopedSteps(steps, parseTenantScope('database/creds/{tenant}-*', 'acme=db.acme.internal')),
    retryDelayMs: () => 0,
    secrets: {} as SecretStore,
    runner: { run: () => Promise.reject(new Error('unused')) },
    dbCaFile: '/dev/null',
  });
  return { handle, ran, published };
}

describe('etl-agent tenant scope at use time', () => {
  test('a task using its own tenant\'s roles and hosts runs', async () => {
    const a = agent();
    await a.handle(loadTask('acme'));
    expect(a.ran).toEqual(['load database/creds/acme-reader']);
    expect(a.published.map((m) => m.type)).toEqual(['task.succeeded']);
  });

  test.each([
    ['another tenant\'s Vault role', loadTask('acme', conn('crm', 'database/creds/globex-reader')), /Vault role 'database\/creds\/globex-reader'/],
    ['a host off the allow-list', loadTask('acme', conn('crm', 'database/creds/acme-reader', '10.0.0.9')), /host '10\.0\.0\.9:5432'/],
    ['acme\'s roles in a globex task', loadTask('globex'), /outside tenant 'globex'/],
  ])('%s: the task fails not_allowed at once, no step runs, no retry', async (_case, task, why) => {
    const a = agent();
    await a.handle(task);
    expect(a.ran).toEqual([]);
    expect(a.published).toHaveLength(1);
    const failed = a.published[0] as TaskFailed;
    expect(failed.type).toBe('task.failed');
    expect(failed.payload.error.code).toBe('not_allowed');
    expect(failed.payload.error.message).toMatch(why);
  });
});

describe('etl-agent tenant scope in the secret store', () => {
  test("each step reads credentials through the task tenant's view of the store", async () => {
    const views: string[] = [];
    const seen: SecretStore[] = [];
    const base = { forTenant: (tenant: string) => (views.push(tenant), { tenant } as unknown as SecretStore) } as unknown as SecretStore;
    const steps = scopedSteps(
      {
        loadChunk: async (_t, deps) => (seen.push(deps.secrets), RESULT),
        commitRun: async (_t, deps) => (seen.push(deps.secrets), RESULT),
      },
      parseTenantScope('', ''),
    );
    const deps = { secrets: base, runner: { run: () => Promise.reject(new Error('unused')) }, logger: pino({ level: 'silent' }), dbCaFile: '/dev/null' };
    await steps.loadChunk(loadTask('globex').payload, deps);
    expect(views).toEqual(['globex']);
    expect(seen).toEqual([{ tenant: 'globex' }]);
  });

  test('a store without a tenant scope (dev file) is used as it is', async () => {
    const base = {} as SecretStore;
    let used: SecretStore | undefined;
    const steps = scopedSteps({ loadChunk: async (_t, deps) => ((used = deps.secrets), RESULT), commitRun: async () => RESULT }, parseTenantScope('', ''));
    await steps.loadChunk(loadTask('acme').payload, { secrets: base, runner: { run: () => Promise.reject(new Error('unused')) }, logger: pino({ level: 'silent' }), dbCaFile: '/dev/null' });
    expect(used).toBe(base);
  });
});
