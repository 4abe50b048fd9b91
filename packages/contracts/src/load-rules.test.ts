import { Value } from '@sinclair/typebox/value';
import { loadSpecProblems } from './load-rules';
import { PipelineSpec } from './pipeline';

const output = [
  { name: 'id', type: 'int8' },
  { name: 'email', type: 'text' },
];
const target = { connection: 'warehouse', table: 'silver.t', mode: 'append' as const };
const fields = (p: { field: string }[]) => p.map((x) => x.field);

describe('load spec rules', () => {
  test('a valid spec has no problems', () => {
    expect(loadSpecProblems({ target: { ...target, create: true }, incremental: { column: 'id' }, checks: [{ kind: 'not_null', column: 'id' }] }, output)).toEqual([]);
  });

  test('create and allowBreakingDrift need the output columns', () => {
    expect(fields(loadSpecProblems({ target: { ...target, create: true, allowBreakingDrift: true } }, undefined))).toEqual([
      'body/target/create',
      'body/target/allowBreakingDrift',
    ]);
  });

  test('never creates or alters tables in the loader\'s own schema or the catalogs', () => {
    for (const table of ['aoetl_staging.watermarks', 'pg_catalog.pg_class', 'information_schema.tables']) {
      expect(fields(loadSpecProblems({ target: { ...target, table, create: true } }, output))).toEqual(['body/target/table']);
    }
  });

  test('merge keys and checked columns must be output columns', () => {
    const problems = loadSpecProblems(
      { target: { ...target, mode: 'merge', keys: ['nope'] }, checks: [{ kind: 'unique', columns: ['id', 'x'] }] },
      output,
    );
    expect(fields(problems)).toEqual(['body/target/keys/0', 'body/checks/0/columns']);
  });

  test('checks need bounds that make sense, and distinct names', () => {
    const problems = loadSpecProblems(
      {
        target,
        checks: [
          { kind: 'range', column: 'id' },
          { kind: 'row_count', min: 3, max: 1 },
          { kind: 'range', column: 'email', min: 1, max: '0.5' },
          { kind: 'not_null', column: 'id', name: 'same' },
          { kind: 'not_null', column: 'email', name: 'same' },
        ],
      },
      undefined,
    );
    expect(fields(problems)).toEqual(['body/checks/0', 'body/checks/1/min', 'body/checks/4/name']);
  });

  test('the watermark column must be a source column when the spec names them', () => {
    expect(fields(loadSpecProblems({ target, incremental: { column: 'updated_at' } }, undefined, ['id']))).toEqual(['body/incremental/column']);
  });

  test('the schema refuses type names unfit for DDL and unknown check kinds', () => {
    const spec = {
      name: 'p',
      source: { connection: 'a', table: 's.t' },
      target,
      transform: { kind: 'python', code: 'x', output: [{ name: 'id', type: 'int8' }] },
    };
    expect(Value.Check(PipelineSpec, spec)).toBe(true);
    for (const type of ['numeric(12,2)', 'timestamp with time zone', 'int8[]', 'character varying(20)']) {
      expect(Value.Check(PipelineSpec, { ...spec, transform: { ...spec.transform, output: [{ name: 'id', type }] } })).toBe(true);
    }
    for (const type of ['int8; DROP TABLE x', "text'", 'int8)', 'a b c d e f']) {
      expect(Value.Check(PipelineSpec, { ...spec, transform: { ...spec.transform, output: [{ name: 'id', type }] } })).toBe(false);
    }
    expect(Value.Check(PipelineSpec, { ...spec, checks: [{ kind: 'sql', query: 'select 1' }] })).toBe(false);
    expect(Value.Check(PipelineSpec, { ...spec, incremental: { column: 'a"b' } })).toBe(false);
    // Specs are hashed into the audit ledger as canonical JSON: integers only (a decimal bound goes as text).
    expect(Value.Check(PipelineSpec, { ...spec, checks: [{ kind: 'range', column: 'a', max: 10.5 }] })).toBe(false);
    expect(Value.Check(PipelineSpec, { ...spec, checks: [{ kind: 'range', column: 'a', max: '10.5' }] })).toBe(true);
    expect(Value.Check(PipelineSpec, { ...spec, checks: [{ kind: 'row_count_change', maxPercent: 2.5 }] })).toBe(false);
  });
});
