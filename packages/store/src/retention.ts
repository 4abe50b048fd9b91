import type pg from 'pg';
import type { Row } from './rows.js';

export interface PurgeCounts {
  runs: number;
  steps: number;
  chunks: number;
  approvals: number;
  artifacts: number;
}

/**
 * Retention: the database's `retention_purge` deletes a tenant's finished runs (steps, chunks, approvals) older than
 * a cutoff and the old artifacts no remaining run or live version uses, and appends one ledger entry, in one
 * transaction. The ledger itself is never purged.
 */
export class Retention {
  constructor(private readonly pool: pg.Pool) {}

  /** Tenants that have runs (the purge job's work list). */
  async tenants(): Promise<string[]> {
    const { rows } = await this.pool.query('SELECT DISTINCT tenant FROM runs ORDER BY tenant');
    return (rows as Row[]).map((r) => r.tenant as string);
  }

  async purge(tenant: string, cutoff: Date, actor: string): Promise<PurgeCounts> {
    const { rows } = await this.pool.query('SELECT * FROM retention_purge($1, $2, $3)', [tenant, cutoff, actor]);
    const r = rows[0] as Row;
    return { runs: Number(r.runs), steps: Number(r.steps), chunks: Number(r.chunks), approvals: Number(r.approvals), artifacts: Number(r.artifacts) };
  }
}
