import { TERMINAL_STATUSES, TooManyRequestsError, type RunStatus } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import { sleep } from '@aoetl/timing';
import type { RunStepRecord } from '@aoetl/store';
import type { GatewayQueries } from './app.js';

const PAGE = 100;

export interface StreamLimits {
  /** Open event streams per identity. */
  perIdentity: number;
  /** Open event streams per tenant. */
  perTenant: number;
}

/** One run's steps and status as the shared poller last saw them. */
interface Feed {
  steps: RunStepRecord[];
  status: RunStatus | null; // null: the run is gone (or never was)
  subscribers: number;
  waiters: Set<() => void>;
  ready: Promise<void>;
}

export interface RunFeedView {
  /** Steps with an id above `after`, oldest first. */
  stepsAfter(after: number): RunStepRecord[];
  /** The run's status; null once it cannot be found. */
  readonly status: RunStatus | null;
  /** Resolves on the next change, after `ms`, or when `signal` aborts, whichever comes first. */
  changed(ms: number, signal: AbortSignal): Promise<void>;
  leave(): void;
}

/**
 * Run event streams served from one shared poller per run: however many clients follow a run, the control database
 * sees one query per poll interval for it (none once the run is finished). Open streams are capped per identity and
 * per tenant; beyond the cap `join` refuses with TooManyRequestsError (429 + Retry-After).
 */
export class RunEventHub {
  private readonly feeds = new Map<string, Feed>();
  private readonly open = new Map<string, number>();

  constructor(
    private readonly runs: Pick<GatewayQueries['runs'], 'stepsAfter'>,
    private readonly pollMs: number,
    private readonly limits: StreamLimits,
    private readonly logger: Logger,
  ) {}

  /** Streams open now, for an identity (`id:…`) or a tenant (`tenant:…`). */
  openStreams(key: string): number {
    return this.open.get(key) ?? 0;
  }

  /** Follows a run; null if the tenant has no such run. The caller must `leave()`. */
  async join(tenant: string, identity: string, runId: string): Promise<RunFeedView | null> {
    const keys = [`id:${identity}`, `tenant:${tenant}`] as const;
    if (this.openStreams(keys[0]) >= this.limits.perIdentity) {
      throw new TooManyRequestsError(`at most ${this.limits.perIdentity} open event streams per identity; close one or retry later`);
    }
    if (this.openStreams(keys[1]) >= this.limits.perTenant) {
      throw new TooManyRequestsError(`at most ${this.limits.perTenant} open event streams per tenant; retry later`);
    }
    for (const k of keys) this.open.set(k, this.openStreams(k) + 1);
    const release = () => {
      for (const k of keys) {
        const n = this.openStreams(k) - 1;
        if (n > 0) this.open.set(k, n);
        else this.open.delete(k);
      }
    };
    const key = `${tenant}\u0000${runId}`;
    let feed = this.feeds.get(key);
    if (feed === undefined) {
      const created: Feed = { steps: [], status: null, subscribers: 0, waiters: new Set(), ready: Promise.resolve() };
      created.ready = this.poll(tenant, runId, created).then(
        () => void this.loop(key, tenant, runId, created),
        (err: unknown) => {
          this.feeds.delete(key);
          throw err;
        },
      );
      this.feeds.set(key, created);
      feed = created;
    }
    feed.subscribers += 1;
    const joined = feed;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      release();
      joined.subscribers -= 1;
      if (joined.subscribers === 0 && this.feeds.get(key) === joined) this.feeds.delete(key);
    };
    try {
      await joined.ready;
    } catch (err) {
      leave();
      throw err;
    }
    if (joined.status === null) {
      leave();
      return null;
    }
    return {
      stepsAfter: (after) => joined.steps.filter((s) => s.id > after),
      get status() {
        return joined.status;
      },
      changed: (ms, signal) =>
        new Promise<void>((resolve) => {
          const stop = new AbortController();
          const wake = () => stop.abort();
          joined.waiters.add(wake);
          signal.addEventListener('abort', wake, { once: true });
          void sleep(ms, stop.signal).then(() => {
            joined.waiters.delete(wake);
            signal.removeEventListener('abort', wake);
            resolve();
          });
        }),
      leave,
    };
  }

  /** Reads the steps after the last one seen (every page of them); true if anything changed. */
  private async poll(tenant: string, runId: string, feed: Feed): Promise<boolean> {
    const before = { status: feed.status, steps: feed.steps.length };
    for (;;) {
      const batch = await this.runs.stepsAfter(tenant, runId, feed.steps.at(-1)?.id ?? 0, PAGE);
      feed.status = batch?.status ?? null;
      if (batch) feed.steps.push(...batch.steps);
      if (!batch || batch.steps.length < PAGE) break;
    }
    return feed.steps.length !== before.steps || feed.status !== before.status;
  }

  private async loop(key: string, tenant: string, runId: string, feed: Feed): Promise<void> {
    while (this.feeds.get(key) === feed && feed.status !== null && !TERMINAL_STATUSES.includes(feed.status)) {
      await sleep(this.pollMs, undefined, { unref: true });
      if (this.feeds.get(key) !== feed) break;
      try {
        if (!(await this.poll(tenant, runId, feed))) continue;
      } catch (err) {
        this.logger.warn({ err, runId }, 'run event poll failed');
        continue;
      }
      for (const wake of [...feed.waiters]) wake();
    }
    // Finished (or gone): nothing will change; whoever still waits reads the last state.
    for (const wake of [...feed.waiters]) wake();
  }
}
