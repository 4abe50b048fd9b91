import type { EventMessage } from '@aoetl/contracts';
import { Counter, Gauge, Histogram, type Registry } from '@aoetl/observability';

export interface RecentRun {
  runId: string;
  tenant: string;
  status: string;
  rowsOut?: number;
  durationMs?: number;
  reason?: string;
  at: string;
}

/** Turns events into Prometheus metrics and a small in-memory view for the live dashboard. */
export class RunMetrics {
  readonly runs: Counter<'status'>;
  readonly rows: Counter;
  readonly bytes: Counter;
  readonly duration: Histogram<'status'>;
  readonly tasks: Counter<'outcome' | 'code'>;
  readonly violations: Counter<'code'>;
  readonly heartbeat: Gauge<'agent' | 'service'>;
  readonly recent: RecentRun[] = [];
  readonly agents = new Map<string, { service: string; lastSeen: number }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.runs = new Counter({ name: 'aoetl_runs_total', help: 'Run status transitions, by status reached', labelNames: ['status'], registers });
    this.rows = new Counter({ name: 'aoetl_rows_loaded_total', help: 'Rows loaded into targets by succeeded runs', registers });
    this.bytes = new Counter({ name: 'aoetl_bytes_loaded_total', help: 'Bytes of transform output loaded by succeeded runs', registers });
    this.duration = new Histogram({
      name: 'aoetl_run_duration_seconds',
      help: 'Submit-to-finish duration of runs',
      labelNames: ['status'],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
      registers,
    });
    this.tasks = new Counter({ name: 'aoetl_tasks_total', help: 'Finished ETL tasks', labelNames: ['outcome', 'code'], registers });
    this.violations = new Counter({ name: 'aoetl_sandbox_violations_total', help: 'Security-relevant sandbox results', labelNames: ['code'], registers });
    this.heartbeat = new Gauge({ name: 'aoetl_agent_last_heartbeat_seconds', help: 'Unix time of the last heartbeat per agent', labelNames: ['agent', 'service'], registers });
  }

  record(msg: EventMessage): void {
    switch (msg.type) {
      case 'run.status': {
        const p = msg.payload;
        this.runs.inc({ status: p.status });
        if (p.status === 'succeeded') {
          this.rows.inc(p.rowsOut ?? 0);
          this.bytes.inc(p.bytesOut ?? 0);
        }
        if (p.durationMs !== undefined) this.duration.observe({ status: p.status }, p.durationMs / 1000);
        this.remember({ runId: p.runId, tenant: p.tenant, status: p.status, rowsOut: p.rowsOut, durationMs: p.durationMs, reason: p.reason, at: msg.at });
        break;
      }
      case 'task.succeeded':
        this.tasks.inc({ outcome: 'succeeded', code: 'ok' });
        break;
      case 'task.failed':
        this.tasks.inc({ outcome: 'failed', code: msg.payload.error.code });
        if (msg.payload.error.violation) this.violations.inc({ code: msg.payload.error.code });
        break;
      case 'agent.heartbeat':
        this.agents.set(msg.payload.agentId, { service: msg.payload.service, lastSeen: Date.parse(msg.at) });
        this.heartbeat.set({ agent: msg.payload.agentId, service: msg.payload.service }, Date.parse(msg.at) / 1000);
        break;
    }
  }

  private remember(run: RecentRun): void {
    const i = this.recent.findIndex((r) => r.runId === run.runId);
    if (i !== -1) this.recent.splice(i, 1);
    this.recent.unshift(run);
    this.recent.length = Math.min(this.recent.length, 50);
  }
}
