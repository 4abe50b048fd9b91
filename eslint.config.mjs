import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * Package boundaries (ADR 0003): a package is used only through its public entry points (`@aoetl/x`, its curated
 * `index.ts`, or another entry its package.json exports, e.g. `@aoetl/bus/testing`), never through its files
 * (`@aoetl/x/src/…`, `dist/…`, `test/…`) nor through a relative path that leaves the importing file's package;
 * modules do not import each other in a cycle; imports used only as types say so. test/lint/boundaries.test.ts proves every one of these rules reports its violation.
 */
export const boundaries = {
  plugins: { 'import-x': importX },
  settings: {
    'import-x/extensions': ['.ts', '.js'],
    'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    'import-x/resolver-next': [createTypeScriptImportResolver({ alwaysTryTypes: true })],
    // Other packages are reached through their built entry points: tsc -b project references already keep the
    // package graph acyclic, so the cycle rule looks only inside a package (and stays fast).
    'import-x/external-module-folders': ['node_modules', 'dist'],
  },
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            // A package's entry points are the ones its package.json `exports` (`.`, and e.g. `@aoetl/bus/testing`).
            group: ['@aoetl/*/src', '@aoetl/*/src/**', '@aoetl/*/dist', '@aoetl/*/dist/**', '@aoetl/*/test', '@aoetl/*/test/**'],
            message: 'Import a workspace package through its public entry point (@aoetl/<name>), never its src/, dist/ or test/ files.',
          },
        ],
      },
    ],
    // A relative path into another workspace package (its nearest package.json differs from the importer's).
    'import-x/no-relative-packages': 'error',
    'import-x/no-cycle': ['error', { ignoreExternal: true }],
    // `typeof import('x')` stays allowed: it types a module that is loaded lazily (await import('x')).
    '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
  },
};

export default tseslint.config(
  {
    ignores: [
      '**/dist/**', '**/node_modules/**', '.state/**', '**/*.js', '**/*.mjs', '**/*.cjs', 'helm/**', 'bench/**/*.js',
      // Deliberate violations, linted by test/lint/boundaries.test.ts only.
      'test/lint/fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { project: './tsconfig.lint.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // fastify handlers and plugins are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
    },
  },
  boundaries,
  {
    // Tests and the shared test support (@aoetl/testing) read loosely typed JSON from the services under test.
    files: ['**/*.test.ts', '**/test/**/*.ts', 'packages/testing/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
