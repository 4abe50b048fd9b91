/**
 * A sql transform on the running services: an admin registers a source and a warehouse connection with their schema
 * reach; a pipeline whose transform is one SELECT (a join and an aggregate over two allowed schemas) runs pushed down
 * (no sandbox) and the target equals an expectation written independently in SQL on the source; a hostile query is
 * refused at create with 400 naming the rule and the position, and never runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { bearer, connectionBody, liveClient, psqlAdmin, token as realToken, waitForRun } from '@aoetl/testing';

jest.setTimeout(300_000);

const call = liveClient();
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const suffix = randomBytes(4).toString('hex');
const SOURCE_CONN = `sql-e2e-src-${suffix}`;
const TARGET_CONN = `sql-e2e-wh-${suffix}`;
const TARGET = `silver.sql_e2e_${suffix}`;
const QUERY = `SELECT c.customer_id, lower(btrim(c.email)) AS email, count(o.order_id) AS orders,
    max(o.ordered_at) AS last_order
  FROM crm.customers c JOIN sales.orders o ON o.customer_id = c.customer_id
  WHERE c.customer_id <= 20000
  GROUP BY c.customer_id, c.email`;
/** The same result written another way (EXISTS and correlated subqueries), as the superuser. */
const EXPECTED = `SELECT c.customer_id, lower(trim(c.email)) AS email,
    (SELECT count(*) FROM sales.orders o WHERE o.customer_id = c.customer_id) AS orders,
    (SELECT max(ordered_at) FROM sales.orders o WHERE o.customer_id = c.customer_id) AS last_order
  FROM crm.customers c WHERE c.customer_id <= 20000 AND EXISTS (SELECT 1 FROM sales.orders o WHERE o.customer_id = c.customer_id)`;
const fingerprint = (database: string, select: string) =>
  psqlAdmin(database, `SELECT count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '-') FROM (${select}) r`);

beforeAll(async () => {
  psqlAdmin('warehouse', `CREATE TABLE ${TARGET} (customer_id bigint PRIMARY KEY, email text, orders bigint NOT NULL, last_order timestamptz);
    ALTER TABLE ${TARGET} OWNER TO warehouse_load;`);
  for (const [name, database, vaultRole, schemas] of [
    [SOURCE_CONN, 'source', 'database/creds/acme-source-reader', ['crm', 'sales']],
    [TARGET_CONN, 'warehouse', 'database/creds/acme-warehouse-writer', ['silver']],
  ] as const) {
    const res = await call('PUT', `/v1/connections/${name}`, { ...as('admin'), body: { ...connectionBody([...schemas]), database, vaultRole } });
    expect(res.status).toBe(201);
  }
});
afterAll(() => {
  psqlAdmin('warehouse', `DROP TABLE IF EXISTS ${TARGET}`);
});

const pipeline = (name: string, query: string) => ({
  name,
  source: { connection: SOURCE_CONN, table: 'crm.customers' },
  target: { connection: TARGET_CONN, table: TARGET, mode: 'merge', keys: ['customer_id'] },
  transform: { kind: 'sql', query },
  approval: { required: false },
});

test('a sql pipeline loads exactly the rows of an independently written query', async () => {
  const created = await call('POST', '/v1/pipelines', { ...as('alice'), body: pipeline(`sql-e2e-${suffix}`, QUERY) });
  expect(created.status).toBe(201);
  const p = created.json();
  expect(p.artifactSha256).toBe(sha256(QUERY));

  const submitted = await call('POST', `/v1/pipelines/${p.id}/runs`, as('alice'));
  expect(submitted.status).toBe(202);
  const { runId, status } = submitted.json();
  if (status === 'awaiting_approval') {
    expect((await call('POST', `/v1/runs/${runId}/approval`, { ...as('bob'), body: { decision: 'approve' } })).status).toBe(200);
  }
  const run = await waitForRun(runId, realToken('alice'));
  expect({ status: run.status, error: run.error ?? null }).toEqual({ status: 'succeeded', error: null });
  expect(run).toMatchObject({ artifactSha256: p.artifactSha256 });

  const expected = fingerprint('source', EXPECTED);
  expect(Number(expected.split(' ')[0])).toBeGreaterThan(1_000);
  expect(fingerprint('warehouse', `SELECT customer_id, email, orders, last_order FROM ${TARGET}`)).toBe(expected);
});

test('a hostile query is refused at create with its rule and position, and nothing is stored', async () => {
  const name = `sql-e2e-bad-${suffix}`;
  const res = await call('POST', '/v1/pipelines', {
    ...as('alice'),
    body: pipeline(name, "SELECT customer_id, pg_read_file('/etc/passwd') AS email, 0 AS orders FROM crm.customers"),
  });
  expect(res.status).toBe(400);
  expect(res.json().errors).toEqual([
    { field: 'body/transform/query', message: 'function_denied at position 21: function pg_read_file is denied (file)' },
  ]);
  expect(psqlAdmin('aoetl', `SELECT count(*) FROM pipelines WHERE name = '${name}'`)).toBe('0');
});
