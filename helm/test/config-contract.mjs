// The chart <-> config contract: every AOETL_* variable the chart gives a service container must be
// declared by that service's own config schema (services/<name>/src/config.ts, built to dist), and
// the service's own loader (loadConfig of @aoetl/config) must accept what the chart renders: every
// required setting present, every value valid.
//
//   node helm/test/config-contract.mjs CONTAINER_ENV.json
//   node helm/test/config-contract.mjs --facts      JSON {component: {schema, declared, secrets}} of the four
//                                                   services' schemas (check_chart.py least-privilege reads it)
//
// CONTAINER_ENV.json comes from `check_chart.py container-env RENDERED.yaml`. Values the render
// cannot show (fieldRef, secretKeyRef) and secret files (KEY_FILE of a secret KEY, which the
// loader reads) are stood in for by placeholders. Needs `pnpm run build` (reads the dist files).
// Prints one line per container; exit status 1 when any container breaks the contract.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = (line) => process.stdout.write(`${line}\n`);

async function load(path) {
  const file = join(ROOT, path);
  if (!existsSync(file)) throw new Error(`${path} is missing: run pnpm run build first`);
  return import(pathToFileURL(file).href);
}

/** The one TypeBox object schema a service's dist/config.js exports. */
async function serviceSchema(component) {
  const mod = await load(`services/${component}/dist/config.js`);
  const schemas = Object.entries(mod).filter(
    ([, v]) => v && typeof v === 'object' && v.type === 'object' && v.properties && typeof v.properties === 'object',
  );
  if (schemas.length !== 1) {
    throw new Error(`services/${component}/dist/config.js exports ${schemas.length} object schemas; expected exactly one`);
  }
  return schemas[0];
}

const COMPONENTS = ['agent-gateway', 'orchestrator', 'etl-agent', 'monitor'];
/** Functions of a service's config module that check settings together (they throw on a bad combination). */
const CROSS_FIELD_RULES = { 'etl-agent': ['dockerEngineFrom'] };
const [, , envFile] = process.argv;
if (envFile === '--facts') {
  const { secretKeys: secretsOf } = await load('packages/config/dist/index.js');
  const facts = {};
  for (const component of COMPONENTS) {
    const [schemaName, schema] = await serviceSchema(component);
    facts[component] = { schema: schemaName, declared: Object.keys(schema.properties).sort(), secrets: secretsOf(schema).sort() };
  }
  out(JSON.stringify(facts, null, 1));
  process.exit(0);
}
if (!envFile) {
  out('usage: node helm/test/config-contract.mjs CONTAINER_ENV.json');
  process.exit(2);
}
const { loadConfig, secretKeys } = await load('packages/config/dist/index.js');
const containers = JSON.parse(readFileSync(envFile, 'utf8'));
const scratch = mkdtempSync(join(tmpdir(), 'aoetl-contract-'));
let broken = 0;
try {
  for (const { workload, component, container, env } of containers) {
    const [schemaName, schema] = await serviceSchema(component);
    const declared = new Set(Object.keys(schema.properties));
    const secrets = new Set(secretKeys(schema));
    const problems = [];
    const loaderEnv = {};
    let n = 0;
    for (const [key, { source, value }] of Object.entries(env)) {
      if (!key.startsWith('AOETL_')) continue;
      n++;
      const secretFileOf = key.endsWith('_FILE') ? key.slice(0, -'_FILE'.length) : undefined;
      if (secretFileOf !== undefined && secrets.has(secretFileOf) && !declared.has(key)) {
        // The loader reads the secret from this file: give it one to read.
        const file = join(scratch, `${component}-${key}`);
        writeFileSync(file, 'placeholder-secret-value\n', { mode: 0o600 });
        loaderEnv[key] = file;
        continue;
      }
      if (!declared.has(key)) {
        problems.push(`${key} (from ${source}) is not declared by ${schemaName}: no code reads it`);
        continue;
      }
      loaderEnv[key] = value ?? `placeholder-from-${source}`;
    }
    try {
      const config = loadConfig(schema, loaderEnv);
      // Rules across settings that the service checks at start, beyond its schema.
      const mod = await load(`services/${component}/dist/config.js`);
      for (const rule of CROSS_FIELD_RULES[component] ?? []) {
        if (typeof mod[rule] !== 'function') throw new Error(`services/${component}/dist/config.js no longer exports ${rule}`);
        mod[rule](config);
      }
    } catch (err) {
      const details = err?.details?.length ? err.details.map((d) => d.message) : [String(err?.message ?? err)];
      for (const d of details) problems.push(`${schemaName} refuses the rendered config: ${d}`);
    }
    const where = `${component} (Deployment/${workload}, container ${container})`;
    if (problems.length === 0) {
      out(`ok ${where}: ${n} AOETL_* setting(s), all declared by ${schemaName}; loadConfig accepts them`);
    } else {
      broken++;
      out(`BROKEN ${where}:`);
      for (const p of problems) out(`  ${p}`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
out(`config-contract: ${containers.length} container(s), ${broken} breaking the contract`);
process.exit(broken === 0 && containers.length > 0 ? 0 : 1);
