import { randomUUID } from 'node:crypto';
import { envelope } from '@aoetl/contracts';
import { Registry, createLogger } from '@aoetl/observability';
import { buildDashboard } from './dashboard';
import { RunMetrics } from './run-metrics';

describe('dashboard run list', () => {
  test('shows a failed run\'s reason with the row values it quotes replaced by their type and length', async () => {
    const metrics = new RunMetrics(new Registry());
    const reason = 'invalid input syntax for type bigint: "alice.secret@example.com"';
    metrics.record(envelope('run.status', { runId: randomUUID(), tenant: 'acme', pipelineId: randomUUID(), status: 'failed' as const, reason }, { requestId: 'r' }));
    const app = buildDashboard(metrics, 60_000, createLogger({ name: 'dashboard-test', level: 'silent' }));
    try {
      const res = await app.inject({ method: 'GET', url: '/api/summary' });
      expect(res.body).not.toContain('alice.secret');
      expect(res.json().runs[0].reason).toBe('invalid input syntax for type bigint: <text:24>');
    } finally {
      await app.close();
    }
  });
});
