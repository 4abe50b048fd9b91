import type pg from 'pg';
import type { Row } from './rows.js';

/** A target table the tenant's runs wrote, with the key columns its pipelines declared. */
export interface LineageTarget {
  connection: string;
  table: string;
  keyColumns: string[];
}

/**
 * Run lineage (table `run_lineage`): which target each succeeded run wrote. The row is written by the database in
 * the transaction that marks the run succeeded (from the run's snapshot), so no succeeded run lacks one.
 */
export class Lineage {
  constructor(private readonly pool: pg.Pool) {}

  /** Every target table the tenant's pipelines have written. */
  async targets(tenant: string): Promise<LineageTarget[]> {
    const { rows } = await this.pool.query(
      `SELECT connection, target, ARRAY(SELECT DISTINCT k FROM run_lineage l2, unnest(l2.key_columns) k
                                          WHERE l2.tenant = l.tenant AND l2.connection = l.connection AND l2.target = l.target ORDER BY k) AS keys
       FROM run_lineage l WHERE tenant = $1 GROUP BY tenant, connection, target ORDER BY connection, target`,
      [tenant],
    );
    return (rows as Row[]).map((r) => ({ connection: r.connection as string, table: r.target as string, keyColumns: r.keys as string[] }));
  }
}
