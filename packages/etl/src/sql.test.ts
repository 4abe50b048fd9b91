import { mergeStatement, quoteIdent, quoteQualified } from './sql';

describe('sql helpers', () => {
  test('quotes identifiers, doubling embedded quotes', () => {
    expect(quoteIdent('email')).toBe('"email"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteQualified('silver.customers')).toBe('"silver"."customers"');
    expect(() => quoteQualified('customers')).toThrow(/schema.table/);
  });

  test('append and replace insert from staging', () => {
    expect(mergeStatement('s.t', ['a', 'b'], 'append', [])).toBe('INSERT INTO "s"."t" ("a", "b") SELECT "a", "b" FROM aoetl_stage');
    expect(mergeStatement('s.t', ['a'], 'replace', [])).toBe('INSERT INTO "s"."t" ("a") SELECT "a" FROM aoetl_stage');
  });

  test('merge updates the non-key columns on conflict', () => {
    expect(mergeStatement('s.t', ['id', 'x', 'y'], 'merge', ['id'])).toBe(
      'INSERT INTO "s"."t" ("id", "x", "y") SELECT "id", "x", "y" FROM aoetl_stage ON CONFLICT ("id") DO UPDATE SET "x" = EXCLUDED."x", "y" = EXCLUDED."y"',
    );
    expect(mergeStatement('s.t', ['id'], 'merge', ['id'])).toContain('DO NOTHING');
  });
});
