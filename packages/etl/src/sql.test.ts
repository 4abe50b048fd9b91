import { chunkPredicate, mergeStatement, quoteIdent, quoteQualified, stagingTable } from './sql';

describe('sql helpers', () => {
  test('quotes identifiers, doubling embedded quotes', () => {
    expect(quoteIdent('email')).toBe('"email"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteQualified('silver.customers')).toBe('"silver"."customers"');
    expect(() => quoteQualified('customers')).toThrow(/schema.table/);
  });

  test('append and replace insert everything staged', () => {
    expect(mergeStatement('s.t', ['a', 'b'], 'append', [], 'x')).toBe('INSERT INTO "s"."t" ("a", "b") SELECT "a", "b" FROM x s');
    expect(mergeStatement('s.t', ['a'], 'replace', [], 'x')).toBe('INSERT INTO "s"."t" ("a") SELECT "a" FROM x s');
  });

  test('merge keeps one row per key, chosen by a deterministic order, and updates the other columns', () => {
    expect(mergeStatement('s.t', ['id', 'x', 'y'], 'merge', ['id'], 'x', ['x', 'y'])).toBe(
      'INSERT INTO "s"."t" ("id", "x", "y") SELECT DISTINCT ON ("id") "id", "x", "y" FROM x s ORDER BY "id", "x", "y" ' +
        'ON CONFLICT ("id") DO UPDATE SET "x" = EXCLUDED."x", "y" = EXCLUDED."y"',
    );
    expect(mergeStatement('s.t', ['id'], 'merge', ['id'], 'x')).toContain('DO NOTHING');
  });

  test('chunks partition by a hash of the key; one chunk needs no predicate', () => {
    expect(chunkPredicate(['id'], 2, 4)).toBe('mod(abs(hashtext(row("id")::text)::bigint), 4) = 2');
    expect(chunkPredicate([], 0, 2)).toBe('mod(abs(hashtext(t::text)::bigint), 2) = 0');
    expect(chunkPredicate(['id'], 0, 1)).toBe('true');
  });

  test('staging tables are named per run and chunk, within the 63-byte identifier limit', () => {
    const name = stagingTable('130e4a4c-d161-4593-9253-8e1e8a937dde', 63);
    expect(name).toBe('aoetl_staging.r_130e4a4cd16145939253 8e1e8a937dde_63'.replace(' ', ''));
    expect(name.split('.')[1]!.length).toBeLessThanOrEqual(63);
  });
});
