// Applies the control-database migrations with node-pg-migrate, the tool deploy/local/migrate.sh uses:
// `node-pg-migrate up -m <@aoetl/store>/migrations --migration-file-language sql --migrations-table pgmigrations`.
// Shipped in the orchestrator image as /app/migrate.mjs (docker/service.Dockerfile) and run there by the
// chart's migrations Job (helm/aoetl/templates/migrations-job.yaml) with the schema owner's role.
//
//   AOETL_DATABASE_URL            postgres://<owner>@host:port/db?sslmode=verify-full&sslrootcert=… (no password)
//   AOETL_DATABASE_PASSWORD_FILE  file holding the owner's password (a mounted Secret)
//   node migrate.mjs [more node-pg-migrate arguments, e.g. --schema x --create-schema]
//
// Idempotent: applied migrations are recorded in pgmigrations and skipped; node-pg-migrate holds an
// advisory lock, so two runs at once apply each migration once. Exit status: node-pg-migrate's (0 = current).
// @aoetl/store (and with it node-pg-migrate and the migrations) is resolved from the working directory:
// /app in the image, packages/store in the repository.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function fail(message) {
  process.stderr.write(`migrate: ${message}\n`);
  process.exit(1);
}

const url = process.env.AOETL_DATABASE_URL;
const passwordFile = process.env.AOETL_DATABASE_PASSWORD_FILE;
if (!url || !/^postgres(ql)?:\/\//.test(url)) fail('AOETL_DATABASE_URL must be a postgres:// URL of the schema owner (without the password)');
if (!passwordFile) fail('AOETL_DATABASE_PASSWORD_FILE must name the file holding the owner password');
let password;
try {
  password = readFileSync(passwordFile, 'utf8').trim();
} catch (err) {
  fail(`cannot read AOETL_DATABASE_PASSWORD_FILE ${passwordFile}: ${err.code ?? err.message}`);
}
if (!password) fail(`AOETL_DATABASE_PASSWORD_FILE ${passwordFile} is empty`);

const fromCwd = createRequire(join(process.cwd(), 'package.json'));
let storeDir;
try {
  storeDir = join(dirname(fromCwd.resolve('@aoetl/store')), '..');
} catch {
  fail(`@aoetl/store is not resolvable from ${process.cwd()} (run from /app in the orchestrator image, or from packages/store)`);
}
const migrations = join(storeDir, 'migrations');
if (!existsSync(migrations)) fail(`${migrations} is missing (the image must ship packages/store/migrations)`);
const bin = createRequire(join(storeDir, 'package.json')).resolve('node-pg-migrate/bin/node-pg-migrate');

const args = [bin, 'up', '-m', migrations, '--migration-file-language', 'sql', '--migrations-table', 'pgmigrations', ...process.argv.slice(2)];
// The password goes to pg through PGPASSWORD (never on a command line, never logged).
const env = { ...process.env, DATABASE_URL: url, PGPASSWORD: password };
delete env.AOETL_DATABASE_PASSWORD;
const run = spawnSync(process.execPath, args, { env, stdio: 'inherit' });
if (run.error) fail(`cannot start node-pg-migrate: ${run.error.message}`);
process.exit(run.status ?? 1);
