import type pg from 'pg';
import type { LedgerEntry } from '@aoetl/audit';
import { decodeCursor, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import type { Row } from './rows.js';

export interface LedgerFilter {
  action?: string | undefined;
  object?: string | undefined;
  actor?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/** What to append; the database assigns seq, at, prev_hash and hash. Payload: ids and hashes only. */
export interface LedgerAppend {
  tenant: string;
  actor: string;
  action: string;
  object: string;
  payload: Record<string, unknown>;
}

// `at` as the exact text the hash covers (UTC, milliseconds).
const COLUMNS = `seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, tenant, actor, action, object, payload, prev_hash, hash`;

const toEntry = (r: Row): LedgerEntry => ({
  seq: Number(r.seq),
  at: r.at as string,
  tenant: r.tenant as string,
  actor: r.actor as string,
  action: r.action as string,
  object: r.object as string,
  payload: r.payload as LedgerEntry['payload'],
  prevHash: r.prev_hash as string,
  hash: r.hash as string,
});

/**
 * The audit ledger (table `audit_ledger`): one hash chain per tenant. Changes of the control tables are appended by
 * triggers in the changing transaction; other actions (erasures) through `append`, which calls the database's
 * `audit_append` (the only writer). Nothing here updates or deletes: the database refuses both.
 */
export class Ledger {
  constructor(private readonly pool: pg.Pool) {}

  /** Appends one entry (in `client`'s transaction when given); answers its seq. */
  async append(entry: LedgerAppend, client?: pg.PoolClient): Promise<number> {
    const { rows } = await (client ?? this.pool).query('SELECT audit_append($1, $2, $3, $4, $5::jsonb) AS seq', [
      entry.tenant, entry.actor, entry.action, entry.object, JSON.stringify(entry.payload),
    ]);
    return Number((rows[0] as Row).seq);
  }

  /**
   * Appends an entry caused by a stream message (`payload.eventId`: the message id) unless that message already has
   * one in the same object's history: a redelivered message is recorded once. Answers the seq, or null when known.
   */
  async appendOnce(entry: LedgerAppend & { payload: { eventId: string } }): Promise<number | null> {
    const { rows } = await this.pool.query(
      `SELECT audit_append($1, $2, $3, $4, $5::jsonb) AS seq
       WHERE NOT EXISTS (SELECT 1 FROM audit_ledger WHERE tenant = $1 AND object = $4 AND payload->>'eventId' = $6)`,
      [entry.tenant, entry.actor, entry.action, entry.object, JSON.stringify(entry.payload), entry.payload.eventId],
    );
    return rows.length === 0 ? null : Number((rows[0] as Row).seq);
  }

  /** The tenant's entries, newest first, filtered, one page at a time (cursor: the last seq returned). */
  async query(tenant: string, filter: LedgerFilter, page: PageRequest): Promise<Page<LedgerEntry>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['int']);
    const { rows } = await this.pool.query(
      `SELECT ${COLUMNS} FROM audit_ledger
       WHERE tenant = $1 AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR object = $3)
         AND ($4::text IS NULL OR actor = $4) AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)
         AND ($7::bigint IS NULL OR seq < $7)
       ORDER BY seq DESC LIMIT $8`,
      [tenant, filter.action ?? null, filter.object ?? null, filter.actor ?? null, filter.since ?? null, filter.until ?? null,
        after?.[0] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toEntry, (r) => [Number(r.seq)]);
  }

  /** The whole chain of a tenant in seq order, read in batches (for verify). */
  async *entries(tenant: string, batch = 1000): AsyncGenerator<LedgerEntry> {
    let after = 0;
    for (;;) {
      const { rows } = await this.pool.query(
        `SELECT ${COLUMNS} FROM audit_ledger WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [tenant, after, batch],
      );
      for (const r of rows as Row[]) yield toEntry(r);
      if (rows.length < batch) return;
      after = Number((rows[rows.length - 1] as Row).seq);
    }
  }

  /** Every chain's last entry (what a checkpoint signs). */
  async heads(): Promise<{ tenant: string; seq: number; hash: string; at: string }[]> {
    // audit_heads only lists the chains (one index probe each); what is signed is the ledger's own last row.
    const { rows } = await this.pool.query(
      `SELECT l.* FROM audit_heads h
       CROSS JOIN LATERAL (SELECT ${COLUMNS} FROM audit_ledger WHERE tenant = h.tenant ORDER BY seq DESC LIMIT 1) l
       ORDER BY h.tenant`,
    );
    return (rows as Row[]).map((r) => ({ tenant: r.tenant as string, seq: Number(r.seq), hash: r.hash as string, at: r.at as string }));
  }
}
