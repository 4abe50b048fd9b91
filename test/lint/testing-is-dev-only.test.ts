/** @aoetl/testing is test support: a devDependency of whoever uses it, never a run-time dependency (ADR 0003). */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
const manifests: Manifest[] = ['packages', 'services'].flatMap((dir) =>
  readdirSync(join(ROOT, dir)).map((name) => JSON.parse(readFileSync(join(ROOT, dir, name, 'package.json'), 'utf8')) as Manifest),
);

test('no package or service depends on @aoetl/testing at run time', () => {
  const runtime = manifests.filter((m) => '@aoetl/testing' in { ...m.dependencies, ...m.peerDependencies }).map((m) => m.name);
  expect(runtime).toEqual([]);
  // and it is in use, as a devDependency
  expect(manifests.filter((m) => '@aoetl/testing' in (m.devDependencies ?? {})).length).toBeGreaterThan(0);
});

test('@aoetl/testing depends on no other workspace package (any package may use it without a cycle)', () => {
  const testing = manifests.find((m) => m.name === '@aoetl/testing');
  expect(testing).toBeDefined();
  const workspace = Object.keys({ ...testing!.dependencies, ...testing!.devDependencies }).filter((d) => d.startsWith('@aoetl/'));
  expect(workspace).toEqual([]);
});
