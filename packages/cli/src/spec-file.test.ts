import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJsonLines, parsePipelineText, readPipelineFile } from './spec-file';

const good = `name: demo
source:
  connection: crm-source
  table: crm.customers
target:
  connection: warehouse
  table: silver.customers
  mode: merge
  keys: [email]
transform:
  kind: python
  code: |
    def transform(rows):
        return rows
`;

describe('parsePipelineText', () => {
  it('accepts a valid spec', () => {
    expect(parsePipelineText(good, 'p.yaml').target.keys).toEqual(['email']);
  });
  it('accepts JSON', () => {
    const spec = parsePipelineText(JSON.stringify(parsePipelineText(good, 'a')), 'p.json');
    expect(spec.name).toBe('demo');
  });
  it('names the line of a YAML syntax error', () => {
    const bad = good.replace('  mode: merge', '  mode: merge: x');
    expect(() => parsePipelineText(bad, 'p.yaml')).toThrow(/^p\.yaml:8:\d+: invalid YAML: /);
  });
  it('names the line and field of a schema error', () => {
    expect(() => parsePipelineText(good.replace('mode: merge', 'mode: upsert'), 'p.yaml')).toThrow(/^p\.yaml:8:3: \/target\/mode /);
    expect(() => parsePipelineText(good.replace('table: crm.customers', 'table: customers'), 'p.yaml')).toThrow(
      /^p\.yaml:4:3: \/source\/table Expected string to match/,
    );
  });
  it('points a missing field at its parent', () => {
    expect(() => parsePipelineText(good.replace('  connection: warehouse\n', ''), 'p.yaml')).toThrow(/^p\.yaml:5:1: \/target\/connection/);
  });
  it('refuses a file that is not a mapping', () => {
    expect(() => parsePipelineText('- a\n', 'p.yaml')).toThrow('p.yaml:1:1: expected a mapping');
  });
});

describe('readPipelineFile', () => {
  it('reads transform.file relative to the spec', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aoetl-spec-'));
    writeFileSync(join(dir, 't.py'), 'def transform(rows):\n    return rows\n');
    writeFileSync(join(dir, 'p.yaml'), good.replace(/ {2}code: \|[\s\S]*$/, '  file: t.py\n'));
    const { transform } = readPipelineFile(join(dir, 'p.yaml'));
    expect(transform.kind === 'python' && transform.code).toContain('def transform');
  });
  it('names a missing file', () => {
    expect(() => readPipelineFile('/nonexistent/p.yaml')).toThrow('cannot read /nonexistent/p.yaml: ENOENT');
  });
});

describe('parseJsonLines', () => {
  it('reads one object per line', () => {
    expect(parseJsonLines('{"a":1}\n\n{"a":2}\n', 's.jsonl')).toEqual([{ a: 1 }, { a: 2 }]);
  });
  it('names the bad line', () => {
    expect(() => parseJsonLines('{"a":1}\n{oops\n', 's.jsonl')).toThrow(/^s\.jsonl:2: not JSON/);
    expect(() => parseJsonLines('[1]\n', 's.jsonl')).toThrow('s.jsonl:1: each line must be a JSON object');
  });
});
