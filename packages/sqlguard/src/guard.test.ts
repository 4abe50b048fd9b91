import { checkQuery, describeRefusal, loadSqlGuard, type GuardRule } from './index.js';

const policy = { sourceTable: 'crm.customers', allowedSchemas: ['crm', 'sales'] };

beforeAll(async () => {
  await loadSqlGuard();
});

/** [query, rule, category?] — every one must be refused with that rule (first refusal). */
const HOSTILE: Array<[string, GuardRule, string?]> = [
  // stacked statements, comments and dollar quoting
  ['SELECT 1; DROP TABLE crm.customers', 'multiple_statements'],
  ['SELECT * FROM crm.customers; DELETE FROM crm.customers', 'multiple_statements'],
  ['SELECT 1 -- harmless\n; UPDATE crm.customers SET email = null', 'multiple_statements'],
  ['SELECT 1 /* ; */ ; SELECT pg_sleep(10)', 'multiple_statements'],
  ["SELECT $$ ; $$; TRUNCATE crm.customers", 'multiple_statements'],
  ["SELECT $a$ $$ ; $a$; DELETE FROM crm.customers", 'multiple_statements'],
  ['SELECT 1;;SELECT 2', 'multiple_statements'],
  ['/* only a comment */', 'empty'],
  ['', 'empty'],
  ['-- nothing', 'empty'],
  // not a SELECT
  ["COPY (SELECT 1) TO PROGRAM 'id'", 'not_select'],
  ["COPY crm.customers TO '/tmp/x'", 'not_select'],
  ["COPY crm.customers FROM PROGRAM 'curl x'", 'not_select'],
  ["DO $$ BEGIN PERFORM pg_sleep(1); END $$", 'not_select'],
  ["SET statement_timeout = 0", 'not_select'],
  ["SET ROLE postgres", 'not_select'],
  ["RESET ALL", 'not_select'],
  ["CALL crm.p()", 'not_select'],
  ['INSERT INTO crm.customers (customer_id) VALUES (1)', 'not_select'],
  ['UPDATE crm.customers SET email = null', 'not_select'],
  ['DELETE FROM crm.customers', 'not_select'],
  ['EXPLAIN ANALYZE DELETE FROM crm.customers', 'not_select'],
  ['CREATE TABLE crm.x AS SELECT 1', 'not_select'],
  ['LOCK TABLE crm.customers', 'not_select'],
  ["LOAD 'evil.so'", 'not_select'],
  ["ALTER SYSTEM SET log_statement = 'none'", 'not_select'],
  ['PREPARE p AS SELECT 1', 'not_select'],
  ['EXECUTE p', 'not_select'],
  ["NOTIFY ch, 'x'", 'not_select'],
  ['BEGIN', 'not_select'],
  // writable CTEs and friends
  ['WITH d AS (DELETE FROM crm.customers RETURNING *) SELECT * FROM d', 'data_modifying_cte'],
  ['WITH u AS (UPDATE crm.customers SET email = null RETURNING 1) SELECT * FROM u', 'data_modifying_cte'],
  ['WITH i AS (INSERT INTO sales.orders (order_id) VALUES (1) RETURNING *) SELECT 1', 'data_modifying_cte'],
  ['WITH a AS (SELECT 1), b AS (DELETE FROM crm.customers RETURNING 1) SELECT * FROM a', 'data_modifying_cte'],
  ['SELECT * INTO crm.copy FROM crm.customers', 'select_into'],
  ['SELECT * FROM crm.customers FOR UPDATE', 'locking_clause'],
  ['SELECT * FROM crm.customers FOR SHARE NOWAIT', 'locking_clause'],
  ['SELECT * FROM (SELECT * FROM crm.customers FOR NO KEY UPDATE) s', 'locking_clause'],
  ['SELECT * FROM crm.customers FOR KEY SHARE SKIP LOCKED', 'locking_clause'],
  // file, large objects, sleep, locks, foreign, config, signals
  ["SELECT pg_read_file('/etc/passwd')", 'function_denied', 'file'],
  ["SELECT pg_catalog.pg_read_binary_file('/etc/shadow')", 'function_denied', 'file'],
  ["SELECT * FROM pg_ls_dir('.')", 'function_denied', 'file'],
  ["SELECT lo_import('/etc/passwd')", 'function_denied', 'large_object'],
  ["SELECT lo_export(1, '/tmp/x')", 'function_denied', 'large_object'],
  ['SELECT lo_get(16384)', 'function_denied', 'large_object'],
  ['SELECT pg_sleep(10)', 'function_denied', 'sleep'],
  ["SELECT email FROM crm.customers WHERE pg_sleep_for('5 minutes') IS NULL", 'function_denied', 'sleep'],
  ['SELECT pg_advisory_lock(1)', 'function_denied', 'advisory_lock'],
  ['SELECT pg_try_advisory_xact_lock(42)', 'function_denied', 'advisory_lock'],
  ["SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(x int)", 'function_denied', 'foreign'],
  ["SELECT dblink_exec('host=evil', 'DROP TABLE x')", 'function_denied', 'foreign'],
  ["SELECT set_config('search_path', 'evil', false)", 'function_denied', 'config'],
  ["SELECT current_setting('data_directory')", 'function_denied', 'config'],
  ['SELECT pg_reload_conf()', 'function_denied', 'config'],
  ['SELECT pg_terminate_backend(1)', 'function_denied', 'signal'],
  ['SELECT pg_cancel_backend(pid) FROM crm.customers', 'function_denied', 'signal'],
  ["SELECT query_to_xml('DELETE FROM crm.customers RETURNING 1', true, true, '')", 'function_denied', 'dynamic_sql'],
  ["SELECT nextval('crm.seq')", 'function_denied', 'sequence'],
  ["SELECT pg_switch_wal()", 'function_denied', 'admin'],
  ['SELECT pg_backend_pid()', 'function_denied', 'admin'],
  ["SELECT \"pg_sleep\"(1)", 'function_denied', 'sleep'],
  ['SELECT U&"pg\\005fsleep"(1)', 'function_denied', 'sleep'],
  ['SELECT version()', 'function_not_allowed'],
  ["SELECT has_table_privilege('crm.customers', 'DELETE')", 'function_not_allowed'],
  ["SELECT txid_current()", 'function_not_allowed'],
  ['SELECT crm.evil(email) FROM crm.customers', 'function_schema'],
  ['SELECT public.lower(email) FROM crm.customers', 'function_schema'],
  // catalog reads, other schemas, search_path
  ['SELECT * FROM pg_catalog.pg_authid', 'reserved_schema'],
  ['SELECT relname FROM pg_catalog.pg_class', 'reserved_schema'],
  ['SELECT * FROM information_schema.tables', 'reserved_schema'],
  ['SELECT * FROM INFORMATION_SCHEMA.COLUMNS', 'reserved_schema'],
  ['SELECT * FROM pg_toast.pg_toast_2619', 'reserved_schema'],
  ['SELECT * FROM pg_temp.t', 'reserved_schema'],
  ['SELECT * FROM pg_temp_3.t', 'reserved_schema'],
  ['SELECT * FROM aoetl_staging.load_ledger', 'reserved_schema'],
  ['SELECT * FROM U&"pg\\005fcatalog".pg_class', 'reserved_schema'],
  ['SELECT * FROM "PG_CATALOG".pg_class', 'reserved_schema'],
  ['SELECT * FROM crm.customers c JOIN (SELECT * FROM pg_catalog.pg_roles) r ON true', 'reserved_schema'],
  ['SELECT * FROM crm.customers WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_user)', 'reserved_schema'],
  ['SELECT * FROM public.secrets', 'schema_not_allowed'],
  ['SELECT * FROM hr.salaries', 'schema_not_allowed'],
  ['SELECT * FROM crm.customers UNION ALL SELECT * FROM hr.salaries', 'schema_not_allowed'],
  ['SELECT * FROM pg_class', 'unqualified_relation'],
  ['SELECT * FROM pg_authid', 'unqualified_relation'],
  ['SELECT * FROM customers', 'unqualified_relation'],
  ['SELECT * FROM crm.customers c JOIN orders o USING (customer_id)', 'unqualified_relation'],
  // a non-recursive WITH query cannot see a later one: the name resolves through search_path
  ['WITH a AS (SELECT * FROM pg_class), pg_class AS (SELECT 1) SELECT * FROM a', 'unqualified_relation'],
  ['SELECT * FROM source.crm.customers', 'cross_database'],
  // types, operators, parameters, sampling
  ["SELECT 'pg_authid'::regclass", 'type_not_allowed'],
  ["SELECT CAST('pg_sleep' AS regproc)", 'type_not_allowed'],
  ['SELECT email::crm.evil_type FROM crm.customers', 'type_not_allowed'],
  ["SELECT '0/0'::pg_lsn", 'type_not_allowed'],
  ['SELECT 1 OPERATOR(crm.===) 2', 'operator_schema'],
  ['SELECT * FROM crm.customers WHERE customer_id = $1', 'parameter'],
  ['SELECT * FROM crm.customers TABLESAMPLE system_time(1000)', 'tablesample_method'],
  // not SQL at all
  ['SELEC * FROM crm.customers', 'syntax'],
  ["SELECT 'unterminated", 'syntax'],
  ['SELECT $$ unterminated dollar', 'syntax'],
];

describe('the SQL guard refuses hostile queries, naming the rule and the position', () => {
  it('has a battery of at least 60 hostile queries', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(60);
  });

  // Three columns always (jest passes a callback as an extra argument otherwise).
  it.each(HOSTILE.map(([q, r, c]) => [q, r, c ?? null] as const))('%s → %s %s', (query, rule, category) => {
    const result = checkQuery(query, policy);
    if (result.ok) throw new Error(`accepted: ${query}`);
    const first = result.refusals[0]!;
    expect(first.rule).toBe(rule);
    if (category) expect(first.category).toBe(category);
    expect(first.position).toBeGreaterThanOrEqual(rule === 'empty' ? 0 : 1);
    expect(first.position).toBeLessThanOrEqual([...query].length + 1);
    expect(describeRefusal(first)).toContain(`${rule} at position ${first.position}`);
  });
});

describe('positions', () => {
  const refusal = (q: string) => {
    const r = checkQuery(q, policy);
    if (r.ok) throw new Error('accepted');
    return r.refusals;
  };

  it('point at the offending token (1-based characters, after multibyte text)', () => {
    expect(refusal("SELECT 'ééé', pg_sleep(1)")[0]).toMatchObject({ rule: 'function_denied', position: 15 });
    expect(refusal('SELECT * FROM crm.customers, pg_catalog.pg_class')[0]).toMatchObject({ rule: 'reserved_schema', position: 30 });
    expect(refusal('SELECT 1; DROP TABLE x')[0]).toMatchObject({ rule: 'multiple_statements', position: 11 });
    expect(refusal('SELECT * FROM crm.customers FOR UPDATE')[0]).toMatchObject({ rule: 'locking_clause', position: 29 });
    expect(refusal("SELECT 'ééé' WHERE WHERE")[0]).toMatchObject({ rule: 'syntax', position: 20 });
    expect(refusal('WITH d AS (DELETE FROM crm.customers RETURNING *) SELECT * FROM d')[0]).toMatchObject({ position: 6 });
  });

  it('lists every refusal of a query, in order', () => {
    const all = refusal('SELECT pg_sleep(1), lo_import(x) FROM pg_catalog.pg_class, hr.t');
    expect(all.map((r) => r.rule)).toEqual(['function_denied', 'function_denied', 'reserved_schema', 'schema_not_allowed']);
    expect(all.map((r) => r.position)).toEqual([8, 21, 39, 60]);
  });
});

const LEGITIMATE = [
  'SELECT * FROM crm.customers',
  'TABLE crm.customers',
  'SELECT customer_id, lower(btrim(email)) AS email FROM crm.customers WHERE email IS NOT NULL',
  'SELECT c.customer_id, c.email, sum(o.amount::numeric) AS total FROM crm.customers c JOIN sales.orders o ON o.customer_id = c.customer_id GROUP BY 1, 2',
  'SELECT c.*, o.order_id FROM crm.customers c LEFT JOIN sales.orders o USING (customer_id)',
  'SELECT customer_id, row_number() OVER (PARTITION BY country ORDER BY created_at DESC) AS rn FROM crm.customers',
  'SELECT customer_id, lag(created_at) OVER w, rank() OVER w FROM crm.customers WINDOW w AS (ORDER BY created_at)',
  'WITH recent AS (SELECT * FROM crm.customers WHERE created_at > now() - interval \'30 days\') SELECT * FROM recent',
  'WITH a AS (SELECT customer_id FROM crm.customers), b AS (SELECT * FROM a) SELECT * FROM b',
  'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n',
  "SELECT customer_id::text, lifetime_value::numeric(12,2), CAST(created_at AS date), '2024-01-01'::timestamptz FROM crm.customers",
  "SELECT DISTINCT ON (lower(email)) * FROM crm.customers ORDER BY lower(email), created_at",
  "SELECT customer_id, CASE WHEN country IN ('US', 'usa') THEN 'US' ELSE upper(btrim(country)) END FROM crm.customers",
  "SELECT coalesce(phone, 'n/a'), nullif(email, ''), greatest(1, 2), regexp_replace(phone, '[^0-9]', '', 'g') FROM crm.customers",
  "SELECT extract(year FROM created_at), date_trunc('month', created_at), to_char(created_at, 'YYYY') FROM crm.customers",
  "SELECT created_at AT TIME ZONE 'UTC', email SIMILAR TO '%@%', substring(email FROM 2), trim(both FROM email) FROM crm.customers",
  'SELECT * FROM crm.customers WHERE customer_id IN (SELECT customer_id FROM sales.orders)',
  'SELECT country, count(*) FILTER (WHERE email IS NULL), percentile_cont(0.5) WITHIN GROUP (ORDER BY lifetime_value) FROM crm.customers GROUP BY country HAVING count(*) > 1',
  'SELECT * FROM crm.customers ORDER BY customer_id LIMIT 10 OFFSET 5',
  "SELECT jsonb_build_object('id', customer_id, 'email', email) FROM crm.customers",
  'SELECT * FROM crm.customers TABLESAMPLE BERNOULLI (10)',
  "SELECT $$dollar ; quoted$$ AS note, 'it''s' FROM crm.customers",
  "SELECT U&'\\0041' AS a FROM crm.customers",
  'SELECT g FROM generate_series(1, 3) AS g',
  "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name)",
  'SELECT customer_id FROM crm.customers UNION SELECT customer_id FROM sales.orders',
  'SELECT pg_catalog.lower(email) FROM crm.customers',
  'SELECT email FROM crm.customers /* a comment ; with a semicolon */ WHERE true;',
];

describe('legitimate SELECTs are accepted', () => {
  it.each(LEGITIMATE)('%s', (query) => {
    const result = checkQuery(query, policy);
    if (!result.ok) throw new Error(result.refusals.map(describeRefusal).join('; '));
    expect(result.ok).toBe(true);
  });

  it('reports the relations and functions a query uses', () => {
    const result = checkQuery('SELECT lower(c.email), count(*) FROM crm.customers c JOIN sales.orders o USING (customer_id) GROUP BY 1', policy);
    expect(result).toMatchObject({ ok: true, relations: ['crm.customers', 'sales.orders'], functions: ['count', 'lower'] });
  });

  it('gives the statement without its trailing semicolon, comments kept', () => {
    const result = checkQuery('  SELECT email FROM crm.customers -- the e-mails\n;  ', policy);
    expect(result).toMatchObject({ ok: true, statement: 'SELECT email FROM crm.customers -- the e-mails' });
    expect(checkQuery('SELECT 1 AS x -- trailing', policy)).toMatchObject({ statement: 'SELECT 1 AS x -- trailing' });
  });

  it('reaches only the source table when the connection allows no other schema', () => {
    const narrow = { sourceTable: 'crm.customers', allowedSchemas: [] };
    expect(checkQuery('SELECT * FROM crm.customers', narrow).ok).toBe(true);
    const other = checkQuery('SELECT * FROM crm.customers c JOIN crm.notes n USING (customer_id)', narrow);
    expect(other.ok ? null : other.refusals.map((r) => [r.rule, r.position])).toEqual([['schema_not_allowed', 36]]);
  });

  it('refuses a reserved schema even when the connection lists it', () => {
    const careless = { sourceTable: 'crm.customers', allowedSchemas: ['crm', 'pg_catalog', 'aoetl_staging'] };
    for (const q of ['SELECT * FROM pg_catalog.pg_class', 'SELECT * FROM aoetl_staging.load_ledger']) {
      const r = checkQuery(q, careless);
      expect(r.ok ? null : r.refusals[0]!.rule).toBe('reserved_schema');
    }
  });
});
