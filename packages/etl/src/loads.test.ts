import type { QualityCheck, WatermarkWindow } from '@aoetl/contracts';
import { createTableStatement, describeDrift, driftOf, type ResolvedColumn, type TableColumn } from './provision';
import { changePercent, violationQuery } from './quality';
import { windowPredicate } from './watermark';

const col = (name: string, type: string, oid: number): ResolvedColumn => ({ name, type, oid, declared: type });
const tcol = (name: string, type: string, oid: number): TableColumn => ({ name, type, oid });

describe('schema drift', () => {
  const target = [tcol('id', 'bigint', 20), tcol('email', 'text', 25), tcol('amount', 'numeric(10,2)', 1700)];

  test('new output columns are additive; nothing is breaking', () => {
    const d = driftOf(target, [col('id', 'bigint', 20), col('email', 'text', 25), col('amount', 'numeric', 1700), col('country', 'text', 25)]);
    expect(d.added.map((c) => c.name)).toEqual(['country']);
    expect(d.dropped).toEqual([]);
    expect(d.retyped).toEqual([]); // a changed type modifier is not drift
  });

  test('a column the output lost is dropped, a changed base type is retyped, both described', () => {
    const d = driftOf(target, [col('id', 'bigint', 20), col('amount', 'text', 25)]);
    expect(d.dropped.map((c) => c.name)).toEqual(['email']);
    expect(d.retyped.map((c) => [c.name, c.from, c.to.type])).toEqual([['amount', 'numeric(10,2)', 'text']]);
    expect(describeDrift(d)).toBe('column email (text) is no longer in the output; column amount is numeric(10,2) in the target, text in the output');
  });

  test('a created table has the output columns in order, and the merge keys as primary key', () => {
    expect(createTableStatement('silver.t', [col('id', 'int8', 20), col('v', 'numeric(12,2)', 1700)], ['id'])).toBe(
      'CREATE TABLE "silver"."t" ("id" int8, "v" numeric(12,2), PRIMARY KEY ("id"))',
    );
    expect(createTableStatement('silver.t', [col('id', 'int8', 20)], [])).toBe('CREATE TABLE "silver"."t" ("id" int8)');
  });
});

describe('quality checks as SQL', () => {
  const q = (c: QualityCheck) => violationQuery(c, 'src');

  test('row checks count offending rows; values are parameters', () => {
    expect(q({ kind: 'not_null', column: 'email' })!.sql).toContain('WHERE s."email" IS NULL');
    const accepted = q({ kind: 'accepted_values', column: 'status', values: ["it's", 'b'] })!;
    expect(accepted.sql).toContain('NOT (s."status"::text = ANY($1::text[]))');
    expect(accepted.params).toEqual([["it's", 'b']]);
    const range = q({ kind: 'range', column: 'amount', max: 10 })!;
    expect(range.sql).toContain('s."amount" > $1');
    expect(range.params).toEqual(['10']);
    const both = q({ kind: 'range', column: 'd', min: '2026-01-01', max: '2026-12-31' })!;
    expect(both.sql).toContain('s."d" < $1 OR s."d" > $2');
    expect(q({ kind: 'unique', columns: ['a', 'b'] })!.sql).toContain('GROUP BY s."a", s."b" HAVING count(*) > 1');
  });

  test('count checks are not row queries', () => {
    expect(q({ kind: 'row_count', min: 1 })).toBeNull();
    expect(q({ kind: 'row_count_change', maxPercent: 10 })).toBeNull();
  });

  test('change in row count is relative to the baseline', () => {
    expect(changePercent(100, 110)).toBeCloseTo(10);
    expect(changePercent(100, 50)).toBeCloseTo(50);
    expect(changePercent(0, 0)).toBe(0);
    expect(changePercent(0, 3)).toBe(Infinity);
  });
});

describe('watermark windows', () => {
  const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;
  const w = (from: string | null, to: string | null, fullRefresh = false): WatermarkWindow => ({ column: 'id', from, to, fullRefresh });

  test('selects the rows past the stored watermark up to the run\'s upper bound', () => {
    expect(windowPredicate(w('5', '8'), 'bigint', lit)).toBe(`t."id" > CAST('5' AS bigint) AND t."id" <= CAST('8' AS bigint)`);
    expect(windowPredicate(w(null, '8'), 'bigint', lit)).toBe(`t."id" <= CAST('8' AS bigint)`);
  });

  test('a full refresh has no lower bound; an empty source selects nothing', () => {
    expect(windowPredicate(w('5', '8', true), 'bigint', lit)).toBe(`t."id" <= CAST('8' AS bigint)`);
    expect(windowPredicate(w(null, null), 'bigint', lit)).toBe('false');
  });

  test('values are quoted literals, whatever they hold', () => {
    expect(windowPredicate(w("x' OR true --", "y"), 'timestamptz', lit)).toContain(`CAST('x'' OR true --' AS timestamptz)`);
  });
});
