import { randomUUID } from 'node:crypto';
import { envelope, type EventMessage } from '@aoetl/contracts';
import { Registry } from '@aoetl/observability';
import { RunMetrics } from './run-metrics';

const ctx = { requestId: 'req-1' };
const step = { step: 'load' as const, chunk: 0 };

function runStatus(runId: string, status: 'running' | 'succeeded' | 'failed', extra: Record<string, unknown> = {}): EventMessage {
  return envelope('run.status', { runId, tenant: 'acme', pipelineId: randomUUID(), status, ...extra }, ctx);
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return found?.value;
}

describe('RunMetrics', () => {
  let registry: Registry;
  let metrics: RunMetrics;
  beforeEach(() => {
    registry = new Registry();
    metrics = new RunMetrics(registry);
  });

  test('counts status changes, and rows and bytes only of succeeded runs', async () => {
    const a = randomUUID();
    const b = randomUUID();
    metrics.record(runStatus(a, 'running'));
    metrics.record(runStatus(a, 'succeeded', { rowsOut: 10, bytesOut: 100, durationMs: 2500 }));
    metrics.record(runStatus(b, 'failed', { rowsOut: 7, bytesOut: 70, durationMs: 500, reason: 'boom' }));
    expect(await value(registry, 'aoetl_runs_total', { status: 'running' })).toBe(1);
    expect(await value(registry, 'aoetl_runs_total', { status: 'succeeded' })).toBe(1);
    expect(await value(registry, 'aoetl_runs_total', { status: 'failed' })).toBe(1);
    expect(await value(registry, 'aoetl_rows_loaded_total')).toBe(10);
    expect(await value(registry, 'aoetl_bytes_loaded_total')).toBe(100);
    const text = await registry.getSingleMetricAsString('aoetl_run_duration_seconds');
    expect(text).toContain('aoetl_run_duration_seconds_sum{status="succeeded"} 2.5');
    expect(text).toContain('aoetl_run_duration_seconds_count{status="failed"} 1');
    expect(text).not.toContain('status="running"');
  });

  test('counts task outcomes by code, and violations only when flagged', async () => {
    const base = { taskId: randomUUID(), runId: randomUUID(), agentId: 'agent-1', ...step };
    metrics.record(envelope('task.succeeded', { ...base, rowsIn: 1, rowsOut: 1, bytesIn: 1, bytesOut: 1, durationMs: 1 }, ctx));
    metrics.record(envelope('task.failed', { ...base, error: { code: 'sandbox_timeout' as const, message: 'm', violation: true } }, ctx));
    metrics.record(envelope('task.failed', { ...base, error: { code: 'transform' as const, message: 'm' } }, ctx));
    expect(await value(registry, 'aoetl_tasks_total', { outcome: 'succeeded', code: 'ok' })).toBe(1);
    expect(await value(registry, 'aoetl_tasks_total', { outcome: 'failed', code: 'sandbox_timeout' })).toBe(1);
    expect(await value(registry, 'aoetl_tasks_total', { outcome: 'failed', code: 'transform' })).toBe(1);
    expect(await value(registry, 'aoetl_sandbox_violations_total', { code: 'sandbox_timeout' })).toBe(1);
    expect(await value(registry, 'aoetl_sandbox_violations_total', { code: 'transform' })).toBeUndefined();
  });

  test('exports the last heartbeat of each agent', async () => {
    const beat = envelope('agent.heartbeat', { agentId: 'host/etl-agent-1', service: 'etl-agent' }, ctx) as EventMessage;
    beat.at = '2026-01-02T03:04:05.000Z';
    metrics.record(beat);
    expect(await value(registry, 'aoetl_agent_last_heartbeat_seconds', { agent: 'host/etl-agent-1', service: 'etl-agent' })).toBe(
      Date.parse('2026-01-02T03:04:05.000Z') / 1000,
    );
  });
});
