/**
 * The demo data set as the e2e tests use it: `crm.customers` in the source database, copied into a table of the
 * warehouse, and the rows the example transform (examples/customers_transform.py) must produce, computed
 * independently in SQL on the source, so a test compares whole tables by checksum.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, psqlAdmin } from './stack.js';

/** The column list of `crm.customers` (and `silver.customers`), for `warehouseTable`. */
export const CUSTOMER_COLUMNS =
  'customer_id bigint, first_name text, last_name text, email text, phone text, country text, created_at timestamptz, lifetime_value numeric(12,2)';

/** The example transform: deduplicates customers by normalised email, drops invalid emails. */
export function demoTransform(): string {
  return readFileSync(join(REPO, 'examples/customers_transform.py'), 'utf8');
}

/** What the demo transform must produce from `crm.customers`, as a derived table for `FROM` (source database). */
export const EXPECTED_CUSTOMERS = `(
  SELECT DISTINCT ON (e.email) e.email, c.customer_id, c.first_name, c.last_name, c.phone, c.country, c.created_at, c.lifetime_value
  FROM crm.customers c CROSS JOIN LATERAL (SELECT lower(btrim(coalesce(c.email, ''), E' \\t\\n\\r\\f' || chr(11))) AS email) e
  WHERE e.email ~ '^[^@[:space:]]+@[^@[:space:]]+\\.[a-z]{2,}$'
  ORDER BY e.email, c.customer_id
) expected`;

/** SQL giving `<rows>:<md5 of every row in email order>` of the demo transform's output columns in `from`. */
export function transformedChecksum(from: string): string {
  const columns = 'email, customer_id, first_name, last_name, phone, country, created_at, lifetime_value::numeric(12,2)';
  return `SELECT count(*) || ':' || md5(coalesce(string_agg(row(${columns})::text, E'\\n' ORDER BY email), '')) FROM ${from}`;
}

/** SQL giving `<rows>:<distinct ids>:<md5 of every row in id order>` of an unchanged copy of `crm.customers`. */
export function copyFingerprint(table: string): string {
  return `SELECT count(*) || ':' || count(DISTINCT customer_id) || ':' || md5(coalesce(string_agg(row(customer_id, first_name, last_name, email, phone, country, created_at, lifetime_value)::text, E'\\n' ORDER BY customer_id), '')) FROM ${table}`;
}

/** A fresh, empty `silver.<prefix>_<random>` shaped like `silver.customers`, owned by the loader role. */
export function customersTarget(prefix: string): string {
  const table = `silver.${prefix}_${randomBytes(4).toString('hex')}`;
  psqlAdmin('warehouse', `CREATE TABLE ${table} (LIKE silver.customers INCLUDING ALL); ALTER TABLE ${table} OWNER TO warehouse_load;`);
  return table;
}

/** A pipeline body from `crm.customers` (crm-source) into `target` (warehouse), with the given transform. */
export function customersPipeline(opts: {
  target: string;
  code: string;
  name?: string;
  mode?: 'append' | 'merge';
  chunks?: number;
}) {
  const mode = opts.mode ?? 'merge';
  return {
    name: opts.name ?? `e2e-${randomBytes(4).toString('hex')}`,
    source: { connection: 'crm-source', table: 'crm.customers' },
    target: { connection: 'warehouse', table: opts.target, mode, ...(mode === 'merge' ? { keys: ['email'] } : {}) },
    transform: { kind: 'python', code: opts.code },
    ...(opts.chunks === undefined ? {} : { chunks: opts.chunks }),
  };
}
