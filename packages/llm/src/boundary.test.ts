import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

it('only the adapter imports the openai SDK', () => {
  const importers = readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .filter((f) => /from\s+['"]openai(\/[^'"]*)?['"]|require\(\s*['"]openai/.test(readFileSync(join(__dirname, f), 'utf8')));
  expect(importers).toEqual(['openai-client.ts']);
});
