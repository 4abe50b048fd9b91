import { parse as parseYaml } from 'yaml';
import { cell, render, table } from './output';

describe('table', () => {
  it('aligns the columns and reads dotted paths', () => {
    const out = table(
      [
        { id: 'p1', spec: { source: { table: 'crm.customers' } }, version: 3 },
        { id: 'pipeline-2', spec: { source: { table: 'crm.x' } }, version: 12 },
      ],
      { columns: ['id', { key: 'spec.source.table', header: 'source' }, 'version'] },
    );
    expect(out).toBe(
      ['ID          SOURCE         VERSION', 'p1          crm.customers  3', 'pipeline-2  crm.x          12', ''].join('\n'),
    );
  });
  it('says (none) for no rows and never colours unless asked', () => {
    expect(table([], { columns: ['id'] })).toBe('ID\n(none)\n');
    expect(table([{ a: 1 }], { color: true })).toContain('\u001b[1mA');
  });
});

describe('cell', () => {
  it('cuts long values and flattens objects and newlines', () => {
    expect(cell('x'.repeat(70), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(cell({ a: [1] })).toBe('{"a":[1]}');
    expect(cell('a\n  b')).toBe('a b');
    expect(cell(null)).toBe('');
    expect(cell(['read', 'submit'])).toBe('read, submit');
  });
});

describe('render', () => {
  const value = { id: 'r1', status: 'succeeded', rowsOut: 5 };
  it('json and yaml round-trip to the same value', () => {
    expect(JSON.parse(render(value, 'json'))).toEqual(value);
    expect(parseYaml(render(value, 'yaml'))).toEqual(value);
  });
  it('table of one object is key/value lines', () => {
    expect(render(value, 'table')).toBe('id       r1\nstatus   succeeded\nrowsOut  5\n');
  });
});
