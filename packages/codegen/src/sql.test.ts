import { planFromInstruction, quoteIdent, sqlFromPlan, type Column, type Operation } from './index.js';

const COLS: Column[] = [
  { name: 'id', type: 'int8' },
  { name: 'email', type: 'text' },
  { name: 'amount', type: 'numeric' },
  { name: 'weird "name', type: 'text' },
];

function planOf(text: string): Operation[] {
  const r = planFromInstruction(text, COLS);
  if (!r.ok) throw new Error(r.reason);
  return r.plan;
}

describe('sqlFromPlan', () => {
  it('nests one SELECT per step over the quoted source table', () => {
    expect(sqlFromPlan(planOf('keep rows where email = "o\'brien" and amount >= 10'), 'sales.orders', COLS)).toBe(
      `SELECT "id", "email", "amount", "weird ""name" FROM (SELECT "id", "email", "amount", "weird ""name" FROM "sales"."orders") AS s1 WHERE ("email" = 'o''brien' AND "amount" >= 10)`,
    );
  });

  it('drops rows only where a drop condition is true (nulls kept, as in Python)', () => {
    expect(sqlFromPlan(planOf('drop rows where amount < 0'), 't', COLS)).toContain(`WHERE NOT COALESCE("amount" < 0, FALSE)`);
  });

  it('renders groups, renames and a final sort', () => {
    const sql = sqlFromPlan(planOf('rename amount to amt, then group by email and compute sum(amt) as total, count(*) as n, then sort by n descending'), 't', COLS);
    expect(sql).toContain(`"amount" AS "amt"`);
    expect(sql).toContain(`SELECT "email", sum("amt") AS "total", count(*) AS "n" FROM`);
    expect(sql).toContain(`GROUP BY "email"`);
    expect(sql).toMatch(/ORDER BY "n" DESC NULLS LAST$/);
  });

  it('returns null when a step has no exactly equivalent SQL', () => {
    for (const text of ['cast amount to integer', 'dedupe by email', 'mask email', 'normalise email to E.164', 'keep rows where email matches "^a"', 'group by email and compute avg(amount) as a']) {
      expect(sqlFromPlan(planOf(text), 't', COLS)).toBeNull();
    }
    expect(sqlFromPlan(planOf('sort by id, then keep id'), 't', COLS)).toBeNull();
  });

  it('quotes identifiers', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});
