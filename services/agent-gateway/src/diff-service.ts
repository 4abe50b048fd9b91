import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { InputError, InternalError } from '@aoetl/contracts';
import type { UnifiedDiff } from './diff.js';
import type { DiffRequest } from './diff-worker.js';

/** The compiled worker (from src/ under jest as from dist/, `../dist` is dist). */
const WORKER_FILE = join(__dirname, '..', 'dist', 'diff-worker.js');

export interface DiffServiceOptions {
  /** Largest combined size of the two texts, in bytes (400 beyond). Default 512 KiB. */
  maxBytes?: number;
  /** Diffs remembered, keyed by the two texts' hashes. Default 256. */
  cacheEntries?: number;
}

type Pending = { resolve: (d: UnifiedDiff) => void; reject: (e: Error) => void };

/**
 * Artifact diffs computed in one worker thread, so a slow diff never blocks the event loop; bounded in input size,
 * and cached (LRU) by content hash, so the same pair is diffed once.
 */
export class DiffService {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly cache = new Map<string, Promise<UnifiedDiff>>();
  private readonly maxBytes: number;
  private readonly cacheEntries: number;

  constructor(opts: DiffServiceOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 512 * 1024;
    this.cacheEntries = opts.cacheEntries ?? 256;
  }

  /** `key`: identifies the pair's contents (e.g. both sha256). */
  diff(key: string, fromName: string, toName: string, before: string, after: string): Promise<UnifiedDiff> {
    const size = Buffer.byteLength(before) + Buffer.byteLength(after);
    if (size > this.maxBytes) {
      throw new InputError(`the two artifacts are too large to diff (${size} bytes; at most ${this.maxBytes})`);
    }
    const cacheKey = `${key}\u0000${fromName}\u0000${toName}`;
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) {
      this.cache.delete(cacheKey);
      this.cache.set(cacheKey, cached);
      return cached;
    }
    const computed = this.compute({ id: this.nextId++, fromName, toName, before, after });
    this.cache.set(cacheKey, computed);
    computed.catch(() => this.cache.delete(cacheKey));
    if (this.cache.size > this.cacheEntries) this.cache.delete(this.cache.keys().next().value!);
    return computed;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }

  private compute(req: DiffRequest): Promise<UnifiedDiff> {
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.started().postMessage(req);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_FILE);
    worker.unref();
    worker.on('message', (msg: { id: number; diff?: UnifiedDiff; error?: string }) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.diff) p?.resolve(msg.diff);
      else p?.reject(new InternalError(`diff failed: ${msg.error ?? 'no result'}`));
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const p of this.pending.values()) p.reject(new InternalError(`diff worker stopped: ${err.message}`));
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
