import { backoffMs } from '@aoetl/timing';
import type { SandboxLogger } from './types.js';

/** A pre-started sandbox, waiting for its one run. */
export interface PoolSlot {
  /** Set when the sandbox died while waiting (it is then never handed out). */
  readonly gone: boolean;
}

export interface WarmPoolOptions<S extends PoolSlot> {
  /** How many sandboxes to keep waiting. */
  size: number;
  /** A waiting sandbox older than this is replaced by a fresh one; default 10 min. */
  maxIdleMs?: number;
  /** Starts one sandbox. */
  start: () => Promise<S>;
  /** Destroys one sandbox (never rejects). */
  destroy: (slot: S) => Promise<void>;
  logger: SandboxLogger;
  /** Delay before retrying after a failed start; default 1 s, doubling up to 30 s. */
  retryMs?: number;
}

interface Idle<S> {
  slot: S;
  since: number;
}

/**
 * Keeps `size` sandboxes started and waiting for input. take() hands one out (it is used for
 * exactly one run and destroyed by the caller) and starts a replacement in the background.
 */
export class WarmPool<S extends PoolSlot> {
  private readonly idle: Idle<S>[] = [];
  private starting = 0;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly recycleTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Promise<void>>();
  private readonly maxIdleMs: number;
  private readonly retryMs: number;
  /** Resolvers waiting for the pool to be full (see ready()). */
  private waiters: (() => void)[] = [];

  constructor(private readonly options: WarmPoolOptions<S>) {
    if (!Number.isInteger(options.size) || options.size < 0) throw new RangeError(`pool size must be a non-negative integer, got ${options.size}`);
    this.maxIdleMs = options.maxIdleMs ?? 10 * 60 * 1000;
    this.retryMs = options.retryMs ?? 1000;
    if (options.size > 0) {
      this.recycleTimer = setInterval(() => this.recycle(), Math.max(1000, Math.floor(this.maxIdleMs / 4)));
      this.recycleTimer.unref();
    }
  }

  get size(): number {
    return this.options.size;
  }

  /** Sandboxes waiting now. */
  get available(): number {
    return this.idle.length;
  }

  /** Starts sandboxes until `size` are waiting or starting. */
  fill(): void {
    while (!this.closed && this.retryTimer === undefined && this.idle.length + this.starting < this.options.size) {
      this.starting++;
      const p = this.startOne().finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** Resolves once `size` sandboxes wait (or the pool closed). */
  ready(): Promise<void> {
    this.fill();
    if (this.closed || this.idle.length >= this.options.size) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A waiting sandbox, or undefined when none is ready; starts its replacement. */
  take(): S | undefined {
    let entry: Idle<S> | undefined;
    while ((entry = this.idle.shift()) !== undefined) {
      if (!entry.slot.gone) break;
      void this.options.destroy(entry.slot);
    }
    this.fill();
    return entry?.slot;
  }

  /** Stops refilling and destroys the waiting sandboxes. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.recycleTimer) clearInterval(this.recycleTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await Promise.allSettled([...this.pending]);
    const idle = this.idle.splice(0);
    await Promise.all(idle.map((e) => this.options.destroy(e.slot)));
    this.notify();
  }

  private async startOne(): Promise<void> {
    let slot: S;
    try {
      slot = await this.options.start();
    } catch (err) {
      this.starting--;
      this.failures++;
      const delayMs = backoffMs(this.failures, this.retryMs, 30_000);
      this.options.logger.warn({ err, retryInMs: delayMs }, 'could not start a warm sandbox');
      if (!this.closed && this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.fill();
        }, delayMs);
        this.retryTimer.unref();
      }
      return;
    }
    this.starting--;
    this.failures = 0;
    if (this.closed) {
      await this.options.destroy(slot);
      return;
    }
    this.idle.push({ slot, since: Date.now() });
    if (this.idle.length >= this.options.size) this.notify();
  }

  /** Replaces sandboxes that died or waited longer than maxIdleMs. */
  private recycle(): void {
    const now = Date.now();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const entry = this.idle[i]!;
      if (entry.slot.gone || now - entry.since >= this.maxIdleMs) {
        this.idle.splice(i, 1);
        void this.options.destroy(entry.slot);
      }
    }
    this.fill();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((resolve) => resolve());
  }
}
