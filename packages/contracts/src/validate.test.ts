import { InputError } from './errors';
import { LoadTask } from './messages';
import { PipelineSpec } from './pipeline';
import { isValid, parse } from './validate';

const spec = {
  name: 'crm',
  source: { connection: 'crm-source', table: 'crm.customers' },
  target: { connection: 'warehouse', table: 'silver.customers', mode: 'merge', keys: ['email'] },
  transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
};

describe('schemas', () => {
  test('a valid pipeline passes', () => {
    expect(parse(PipelineSpec, spec)).toBe(spec);
  });

  test('an injected table name, an unknown mode and an extra field are refused with the fields named', () => {
    const bad = { ...spec, source: { connection: 'crm-source', table: 'crm.customers; DROP TABLE x' }, extra: 1 };
    (bad as { target: { mode: string } }).target = { ...spec.target, mode: 'upsert' };
    try {
      parse(PipelineSpec, bad, 'pipeline');
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      const fields = (err as InputError).details.map((d) => d.field);
      expect(fields).toEqual(expect.arrayContaining(['/source/table', '/target/mode']));
    }
  });

  test('messages must carry a well-formed envelope', () => {
    expect(isValid(LoadTask, { v: 1, type: 'task.load', payload: {} })).toBe(false);
  });
});
