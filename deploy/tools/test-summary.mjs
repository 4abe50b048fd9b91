// Adds up the results of every test suite that `make test` ran and prints one closing line:
// "Tests: N passed, N failed". Exits non-zero if anything failed or nothing ran.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.state/test-results';
let passed = 0;
let failed = 0;
// Only result files: suites may leave folders of artefacts beside them (the dashboard's screenshots).
for (const file of readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name)) {
  const text = readFileSync(join(dir, file), 'utf8');
  if (file.endsWith('.json')) {
    const r = JSON.parse(text);
    passed += r.numPassedTests;
    failed += r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
    process.stderr.write(`${file}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped\n`);
  } else {
    const m = [...text.matchAll(/^(\d+) passed, (\d+) failed$/gm)].pop();
    if (!m) {
      failed += 1;
      process.stderr.write(`${file}: no result line\n`);
      continue;
    }
    passed += Number(m[1]);
    failed += Number(m[2]);
    process.stderr.write(`${file}: ${m[1]} passed, ${m[2]} failed\n`);
  }
}
console.log(`Tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
