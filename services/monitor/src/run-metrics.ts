import type { EventMessage } from '@aoetl/contracts';
import { Counter, Gauge, Histogram, type Registry } from '@aoetl/observability';

/**
 * Turns events into Prometheus metrics. Replicas of the monitor share one consumer group, so each counts only the
 * events it was given: Prometheus sums the counters over the pods. No view for people is kept here (the dashboard
 * reads the control database and the event stream itself, so every replica shows the same).
 */
export class RunMetrics {
  readonly runs: Counter<'status'>;
  readonly rows: Counter;
  readonly bytes: Counter;
  readonly duration: Histogram<'status'>;
  readonly tasks: Counter<'outcome' | 'code'>;
  readonly violations: Counter<'code'>;
  readonly heartbeat: Gauge<'agent' | 'service'>;

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
        this.heartbeat.set({ agent: msg.payload.agentId, service: msg.payload.service }, Date.parse(msg.at) / 1000);
        break;
    }
  }
}
