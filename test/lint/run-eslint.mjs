// Lints the given files with the repository's eslint.config.mjs through ESLint's Node API and prints, as JSON,
// each file's messages. The fixtures are ignored by the repository's own lint run and have their own tsconfig.
// Used by boundaries.test.ts in a child process (jest's CommonJS runtime cannot load the ESM config).
import { relative, resolve } from 'node:path';
import { ESLint } from 'eslint';

const root = resolve(import.meta.dirname, '..', '..');
const eslint = new ESLint({
  cwd: root,
  ignore: false,
  overrideConfig: {
    files: ['test/lint/fixtures/**/*.ts'],
    languageOptions: { parserOptions: { project: './test/lint/fixtures/tsconfig.json', tsconfigRootDir: root } },
  },
});
const results = await eslint.lintFiles(process.argv.slice(2).map((f) => resolve(f)));
const out = results.map((r) => ({
  file: relative(root, r.filePath),
  messages: r.messages.map((m) => ({ ruleId: m.ruleId, line: m.line, message: m.message })),
}));
process.stdout.write(JSON.stringify(out));
