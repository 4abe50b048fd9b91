import type { StreamEntry } from '@aoetl/bus';
import { createLogger } from '@aoetl/observability';
import { AgentsView, type StreamReader } from './agents';

const logger = createLogger({ name: 'agents-test', level: 'silent' });
const entry = (id: string, message: unknown): StreamEntry => ({ id, message: JSON.stringify(message) });
const beat = (agentId: string, at: string, sandbox?: string) => ({ type: 'agent.heartbeat', at, payload: { agentId, service: 'etl-agent', ...(sandbox ? { sandbox } : {}) } });

/** A stream in memory, read like StreamAdmin.read (newest `count` at first, then the entries after an id). */
function stream(entries: StreamEntry[]): StreamReader & { fail?: Error } {
  const reader: StreamReader & { fail?: Error } = {
    async read(_stream, count, afterId) {
      if (reader.fail) throw reader.fail;
      if (afterId === undefined) return entries.slice(-count);
      return entries.filter((e) => e.id.localeCompare(afterId, 'en', { numeric: true }) > 0).slice(0, count);
    },
  };
  return reader;
}

test('agents from heartbeats and task results: sandbox, staleness, last task, violations; new entries only once', async () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  const entries = [
    entry('1-0', beat('a1', '2026-01-01T00:00:50Z', 'docker/runsc')),
    entry('2-0', beat('a2', '2026-01-01T00:00:00Z')),
    entry('3-0', { type: 'task.failed', at: '2026-01-01T00:00:55Z', payload: { agentId: 'a1', runId: 'r1', step: 'load', chunk: 2, error: { code: 'policy_refused', violation: true } } }),
    { id: '4-0', message: 'not json' },
  ];
  const reader = stream(entries);
  const view = new AgentsView(reader, { staleMs: 30_000, logger });
  await view.poll();
  entries.push(entry('5-0', { type: 'task.succeeded', at: '2026-01-01T00:00:58Z', payload: { agentId: 'a1', runId: 'r2', step: 'commit', chunk: -1 } }));
  entries.push(entry('6-0', { type: 'agent.quarantine', at: '2026-01-01T00:00:59Z', payload: { event: 'agent.quarantined', agentId: 'a2', actor: 'monitor', reason: '3 violations', violations: 3, steps: [] } }));
  await view.poll();
  await view.poll();
  const [a1, a2] = view.list(now);
  expect(a1).toMatchObject({ agentId: 'a1', sandbox: 'docker/runsc', stale: false, violations: 1, lastTask: { runId: 'r2', step: 'commit', chunk: -1, outcome: 'succeeded', code: 'ok' } });
  expect(a2).toMatchObject({ agentId: 'a2', sandbox: null, stale: true, lastTask: null, quarantine: { state: 'quarantined', by: 'monitor', reason: '3 violations' } });
  expect(a1!.quarantine).toBeNull();
  expect(view.error).toBeNull();

  reader.fail = new Error('NOPERM');
  await view.poll();
  expect(view.error).toMatch(/cannot read aoetl:events: NOPERM/);
  expect(view.list(now)).toHaveLength(2);
});
