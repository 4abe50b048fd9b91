/**
 * The boundary rules of eslint.config.mjs bite (ADR 0003): each fixture under fixtures/ breaks exactly one rule
 * and is reported with that rule's id, and a clean fixture passes. The fixtures are ignored by `pnpm run lint`;
 * here they are linted explicitly, with the repository's own configuration, through ESLint's Node API.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

jest.setTimeout(120_000);

interface Linted {
  file: string;
  messages: { ruleId: string | null; line: number; message: string }[];
}

const SRC = 'test/lint/fixtures/packages/a/src';
const FILES = ['deep-import', 'dist-import', 'test-import', 'cross-package', 'cycle-a', 'cycle-b', 'type-only', 'clean', 'shape', 'subpath-export'];

let results: Map<string, Linted['messages']>;

beforeAll(() => {
  const root = join(__dirname, '..', '..');
  const out = execFileSync(process.execPath, [join(__dirname, 'run-eslint.mjs'), ...FILES.map((f) => join(root, SRC, `${f}.ts`))], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  results = new Map((JSON.parse(out) as Linted[]).map((r) => [r.file.slice(SRC.length + 1).replace(/\.ts$/, ''), r.messages]));
});

const rules = (file: string) => (results.get(file) ?? [{ ruleId: `${file} was not linted`, line: 0, message: '' }]).map((m) => m.ruleId);

test.each([
  ['deep-import', 'a file of another package (@aoetl/x/src/…)', 'no-restricted-imports'],
  ['dist-import', 'a built file of another package (@aoetl/x/dist/…)', 'no-restricted-imports'],
  ['test-import', 'a test file of another package (@aoetl/x/test/…)', 'no-restricted-imports'],
  ['cross-package', 'a relative path into another package', 'import-x/no-relative-packages'],
  ['cycle-a', 'a two-file import cycle (first file)', 'import-x/no-cycle'],
  ['cycle-b', 'a two-file import cycle (second file)', 'import-x/no-cycle'],
  ['type-only', 'a value import used only as a type', '@typescript-eslint/consistent-type-imports'],
])('%s: %s is reported as %s', (file, _what, rule) => {
  expect(rules(file)).toEqual([rule]);
});

test('the clean fixtures pass, including an entry point a package exports besides its index (@aoetl/bus/testing)', () => {
  expect({ clean: rules('clean'), shape: rules('shape'), subpath: rules('subpath-export') }).toEqual({ clean: [], shape: [], subpath: [] });
});

test('the messages say what to do instead', () => {
  expect(results.get('deep-import')?.[0]?.message).toMatch(/public entry point \(@aoetl\/<name>\)/);
  expect(results.get('cycle-a')?.[0]?.message).toMatch(/Dependency cycle/);
});
