import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { inTransaction } from './db.js';

/** A message to publish on a stream once the transaction that wrote it commits. */
export interface OutboxMessage {
  stream: string;
  message: { type: string };
}

export type Publish = (stream: string, message: { type: string }) => Promise<unknown>;

/**
 * The transactional outbox of one producer: state changes write their messages here in their own transaction;
 * the relay publishes them after commit.
 */
export class Outbox {
  constructor(
    private readonly pool: pg.Pool,
    /** Producer name; a relay publishes only its own producer's rows. */
    readonly producer: string,
  ) {}

  /** Writes messages inside the caller's transaction. */
  async add(client: pg.PoolClient, messages: readonly OutboxMessage[]): Promise<void> {
    for (const m of messages) {
      await client.query('INSERT INTO outbox (producer, stream, message) VALUES ($1, $2, $3)', [
        this.producer,
        m.stream,
        JSON.stringify(m.message),
      ]);
    }
  }

  /** Publishes this producer's unpublished rows in order. Publishing twice is harmless downstream. */
  async relay(publish: Publish, batch = 100): Promise<number> {
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query(
        `SELECT id, stream, message FROM outbox WHERE producer = $1 AND published_at IS NULL
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [this.producer, batch],
      );
      for (const r of rows as { stream: string; message: { type: string } }[]) await publish(r.stream, r.message);
      if (rows.length > 0) {
        await c.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
          rows.map((r: { id: string }) => r.id),
        ]);
      }
      return rows.length;
    });
  }
}

export interface RelayOptions {
  /** Wait between polls when the outbox is empty. */
  pollMs: number;
  signal: AbortSignal;
  logger: { warn(obj: object, msg: string): void };
  onRelayed?: (count: number) => void;
}

/**
 * Publishes the outbox's committed rows until `signal` aborts. A crash between publishing and marking a row sent
 * republishes it on the next pass, which consumers tolerate (their effects are idempotent).
 */
export async function runOutboxRelay(outbox: Pick<Outbox, 'relay'>, publish: Publish, opts: RelayOptions): Promise<void> {
  const pause = (ms: number) => delay(ms, undefined, { signal: opts.signal }).catch(() => undefined);
  while (!opts.signal.aborted) {
    try {
      const n = await outbox.relay(publish);
      opts.onRelayed?.(n);
      if (n === 0) await pause(opts.pollMs);
    } catch (err) {
      opts.logger.warn({ err }, 'outbox relay failed; retrying');
      await pause(1000);
    }
  }
}
