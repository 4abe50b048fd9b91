import type { StreamEntry } from '@aoetl/bus';
import { STREAMS } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';

export interface AgentView {
  agentId: string;
  service: string;
  /** Where it runs transforms (`docker/runsc`…), when its heartbeat says. */
  sandbox: string | null;
  lastSeen: string;
  stale: boolean;
  /** The last task it reported on (a task is reported when it ends). */
  lastTask: { runId: string; step: string; chunk: number; outcome: 'succeeded' | 'failed'; code: string; at: string } | null;
  /** Security-relevant sandbox results of its tasks that this monitor has seen. */
  violations: number;
  /** The last quarantine action on it (`agent.quarantine` events of the monitor's quarantine), if any. */
  quarantine: { state: 'quarantined' | 'released'; by: string; reason: string; at: string } | null;
}

interface AgentState {
  service: string;
  sandbox: string | null;
  lastSeen: number;
  lastTask: AgentView['lastTask'];
  violations: number;
  quarantine: AgentView['quarantine'];
}

/** Reads a stream without a consumer group: `read(stream, count)` the newest entries, `read(stream, count, afterId)` the next. */
export interface StreamReader {
  read(stream: string, count: number, afterId?: string): Promise<StreamEntry[]>;
}

/**
 * The agents as the event stream shows them: heartbeats, task results, violations, quarantine actions. Read with XRANGE, outside the
 * monitor's consumer group, so every replica sees every event (the group would give each replica a share).
 * At start it reads the newest `backfill` entries; then it polls for the entries after the last one it read.
 */
export class AgentsView {
  private readonly agents = new Map<string, AgentState>();
  private lastId: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** The last read error (the dashboard shows it: Redis down). */
  error: string | null = null;

  constructor(
    private readonly reader: StreamReader,
    private readonly opts: { staleMs: number; logger: Logger; everyMs?: number; backfill?: number; stream?: string },
  ) {}

  start(): void {
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.opts.everyMs ?? 1000);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** Reads what is new on the stream (public for tests). */
  async poll(): Promise<void> {
    const stream = this.opts.stream ?? STREAMS.events;
    try {
      for (let rounds = 0; rounds < 20; rounds++) {
        const entries = this.lastId === undefined ? await this.reader.read(stream, this.opts.backfill ?? 2000) : await this.reader.read(stream, 500, this.lastId);
        for (const e of entries) this.apply(e);
        if (entries.length > 0) this.lastId = entries[entries.length - 1]!.id;
        else if (this.lastId === undefined) this.lastId = '0-0';
        if (entries.length < 500) break;
      }
      this.error = null;
    } catch (err) {
      this.error = `cannot read ${stream}: ${(err as Error).message}`;
      this.opts.logger.warn({ err }, 'agents view: stream read failed');
    }
  }

  list(now = Date.now()): AgentView[] {
    return [...this.agents]
      .map(([agentId, a]) => ({
        agentId,
        service: a.service,
        sandbox: a.sandbox,
        lastSeen: new Date(a.lastSeen).toISOString(),
        stale: now - a.lastSeen > this.opts.staleMs,
        lastTask: a.lastTask,
        violations: a.violations,
        quarantine: a.quarantine,
      }))
      .sort((x, y) => x.agentId.localeCompare(y.agentId));
  }

  private state(agentId: string, service = 'etl-agent'): AgentState {
    let a = this.agents.get(agentId);
    if (!a) {
      a = { service, sandbox: null, lastSeen: 0, lastTask: null, violations: 0, quarantine: null };
      this.agents.set(agentId, a);
    }
    return a;
  }

  private apply(entry: StreamEntry): void {
    let msg: { type?: unknown; at?: unknown; payload?: Record<string, unknown> };
    try {
      msg = JSON.parse(entry.message ?? 'null') as typeof msg;
    } catch {
      return; // malformed entries are the consumer group's (dead letters), not this view's
    }
    if (!msg || typeof msg !== 'object' || typeof msg.payload !== 'object' || msg.payload === null) return;
    const p = msg.payload;
    const at = typeof msg.at === 'string' ? msg.at : new Date().toISOString();
    if (typeof p.agentId !== 'string') return;
    if (msg.type === 'agent.heartbeat' && typeof p.service === 'string') {
      const a = this.state(p.agentId, p.service);
      a.service = p.service;
      a.sandbox = typeof p.sandbox === 'string' ? p.sandbox : a.sandbox;
      a.lastSeen = Math.max(a.lastSeen, Date.parse(at) || 0);
    } else if ((msg.type === 'task.succeeded' || msg.type === 'task.failed') && typeof p.runId === 'string') {
      const a = this.state(p.agentId);
      const error = p.error as { code?: unknown; violation?: unknown } | undefined;
      a.lastTask = {
        runId: p.runId,
        step: typeof p.step === 'string' ? p.step : '',
        chunk: Number(p.chunk ?? 0),
        outcome: msg.type === 'task.succeeded' ? 'succeeded' : 'failed',
        code: msg.type === 'task.succeeded' ? 'ok' : typeof error?.code === 'string' ? error.code : 'unknown',
        at,
      };
      if (error?.violation === true) a.violations += 1;
    } else if (msg.type === 'agent.quarantine' && (p.event === 'agent.quarantined' || p.event === 'agent.released')) {
      this.state(p.agentId).quarantine = {
        state: p.event === 'agent.quarantined' ? 'quarantined' : 'released',
        by: typeof p.actor === 'string' ? p.actor : '',
        reason: typeof p.reason === 'string' ? p.reason : '',
        at,
      };
    }
  }
}
