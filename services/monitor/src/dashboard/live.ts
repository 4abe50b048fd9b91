import type { Logger } from '@aoetl/observability';
import type { RunRow, TenantScope } from './read-model.js';

type Listener = (run: RunRow) => void;

export interface ChangedRuns {
  changedSince(since: Date, limit?: number): Promise<RunRow[]>;
}

/**
 * Run changes for the dashboards' live views (server-sent events): one poll of the control database per second
 * for all subscribers of this process, while there are any, each change handed only to the subscribers whose
 * scope covers the run's tenant. Polls overlap by a few seconds (a transaction commits after its `updated_at`),
 * and a change already sent is not sent again.
 */
export class RunFeed {
  private readonly listeners = new Set<{ scope: TenantScope; fn: Listener }>();
  private readonly sent = new Map<string, string>();
  private cursor = new Date();
  private timer: NodeJS.Timeout | undefined;
  /** The last poll's failure (the live view says the database is unreachable), null when fine. */
  error: string | null = null;

  constructor(
    private readonly reads: ChangedRuns,
    private readonly logger: Logger,
    private readonly opts: { everyMs?: number; overlapMs?: number } = {},
  ) {}

  subscribe(scope: TenantScope, fn: Listener): () => void {
    const entry = { scope, fn };
    this.listeners.add(entry);
    if (this.timer === undefined) {
      this.cursor = new Date(Date.now() - (this.opts.overlapMs ?? 5000));
      this.schedule();
    }
    return () => {
      this.listeners.delete(entry);
      if (this.listeners.size === 0) this.close();
    };
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One poll (public for tests). */
  async poll(): Promise<void> {
    try {
      const changes = await this.reads.changedSince(this.cursor);
      this.error = null;
      for (const run of changes) {
        const signature = `${run.updatedAt}|${run.status}`;
        if (this.sent.get(run.id) === signature) continue;
        this.sent.set(run.id, signature);
        for (const l of this.listeners) if (l.scope === null || l.scope === run.tenant) l.fn(run);
      }
      const newest = changes.length > 0 ? Date.parse(changes[changes.length - 1]!.updatedAt) : Date.now();
      this.cursor = new Date(Math.min(newest, Date.now()) - (this.opts.overlapMs ?? 5000));
      if (this.sent.size > 10_000) this.sent.clear();
    } catch (err) {
      this.error = `the control database is unreachable: ${(err as Error).message}`;
      this.logger.warn({ err }, 'live run feed: poll failed');
    }
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.poll().finally(() => {
        if (this.timer !== undefined) this.schedule();
      });
    }, this.opts.everyMs ?? 1000);
  }
}
