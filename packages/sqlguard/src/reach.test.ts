import { reachProblems, tableReachProblem } from './index.js';

const crm = ['crm', 'sales'];
const wh = ['bronze', 'silver', 'gold'];
const python = { kind: 'python' as const, code: 'def transform(rows):\n    return rows\n' };

describe('schema reach', () => {
  it('allows tables in the connection\'s schemas', () => {
    expect(tableReachProblem('crm.customers', crm)).toBeNull();
    expect(tableReachProblem('silver.customers', wh)).toBeNull();
  });

  it('refuses other schemas, naming the allowed ones', () => {
    expect(tableReachProblem('hr.salaries', crm)).toBe("schema 'hr' is not in the connection's allowed schemas (crm, sales)");
    expect(tableReachProblem('crm.customers', [])).toBe("schema 'crm' is not in the connection's allowed schemas (none)");
  });

  it.each(['pg_catalog.pg_class', 'information_schema.tables', 'pg_toast.pg_toast_1', 'pg_temp_3.t', 'aoetl_staging.load_ledger', 'PG_CATALOG.x'])(
    'refuses the reserved %s even when listed',
    (table) => {
      const schema = table.split('.')[0]!;
      expect(tableReachProblem(table, [schema, 'crm'])).toMatch(/is reserved and can never be reached/);
    },
  );

  it('names the field of every problem, for python and sql transforms', async () => {
    const refusedTables = await reachProblems({
      source: { table: 'hr.salaries', allowedSchemas: crm },
      target: { table: 'aoetl_staging.load_ledger', allowedSchemas: wh },
      transform: python,
    });
    expect(refusedTables.map((p) => p.field)).toEqual(['body/source/table', 'body/target/table']);

    const refusedQuery = await reachProblems({
      source: { table: 'crm.customers', allowedSchemas: crm },
      target: { table: 'silver.customers', allowedSchemas: wh },
      transform: { kind: 'sql', query: 'SELECT * FROM crm.customers WHERE pg_sleep(1) IS NULL' },
    });
    expect(refusedQuery).toEqual([
      { field: 'body/transform/query', message: 'function_denied at position 35: function pg_sleep is denied (sleep)' },
    ]);

    const fine = await reachProblems({
      source: { table: 'crm.customers', allowedSchemas: crm },
      target: { table: 'silver.customers', allowedSchemas: wh },
      transform: { kind: 'sql', query: 'SELECT c.* FROM crm.customers c JOIN sales.orders o USING (customer_id)' },
    });
    expect(fine).toEqual([]);
  });
});
