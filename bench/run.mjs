// `make bench`: runs every bench/*.bench.mjs in turn (each prints its own figures as ratios against a baseline
// measured side by side in the same run). Benchmarks are not tests: they assert nothing, they report.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv[2];
const files = readdirSync(here).filter((f) => f.endsWith('.bench.mjs') && (!only || f.startsWith(only))).sort();
for (const file of files) {
  process.stdout.write(`\n=== ${file} ===\n`);
  execFileSync(process.execPath, [join(here, file)], { stdio: 'inherit' });
}
