import { InputError } from '@aoetl/contracts';
import { sampleColumns } from './transforms.js';

describe('sampleColumns', () => {
  it('infers the columns in first-seen order: booleans, safe integers, other numbers, else text (nulls ignored)', () => {
    const rows: Record<string, string | number | boolean | null>[] = [
      { id: 1, ok: true, amount: 1.5, name: 'a' },
      { id: 2, ok: null, amount: 2, note: null, mixed: 1 },
      { id: null, ok: false, amount: null, name: null, mixed: 'x', big: 2 ** 60 },
    ];
    expect(sampleColumns({ rows })).toEqual([
      { name: 'id', type: 'bigint' },
      { name: 'ok', type: 'boolean' },
      { name: 'amount', type: 'numeric' },
      { name: 'name', type: 'text' },
      { name: 'note', type: 'text' },
      { name: 'mixed', type: 'text' },
      { name: 'big', type: 'numeric' },
    ]);
  });

  it('takes the columns given, refusing repeated names and rows with a column they do not name', () => {
    const columns = [{ name: 'email', type: 'text' }, { name: 'id', type: 'int4' }];
    expect(sampleColumns({ rows: [{ id: 1 }], columns })).toBe(columns);
    expect(() => sampleColumns({ rows: [{ id: 1 }], columns: [...columns, { name: 'id', type: 'text' }] })).toThrow(InputError);
    try {
      sampleColumns({ rows: [{ id: 1 }, { id: 2, other: 'x' }], columns });
      throw new Error('accepted a row with an unknown column');
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).details).toEqual([{ field: 'body/sample/rows/1', message: "row 1 has a column 'other' that sample.columns does not name" }]);
    }
  });
});
