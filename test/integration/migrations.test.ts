// The migration command the chart's Job runs (docker/migrate.mjs -> node-pg-migrate, the tool of
// deploy/local/migrate.sh), run twice against the local PostgreSQL into a fresh schema: the first run
// applies every migration, the second applies none and changes nothing. Readiness ("schema not ready")
// is checked before and after, and as a service role that cannot read the migrations table.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { assertSchemaReady, createPool, missingRelations, REQUIRED_RELATIONS } from '@aoetl/store';
import { REPO, STATE } from '@aoetl/testing';

jest.setTimeout(120_000);

const CA = join(STATE, 'certs', 'ca.crt');
const url = (role: string) => `postgres://${role}@127.0.0.1:5433/aoetl?sslmode=verify-full&sslrootcert=${CA}`;
const passwordFile = (role: string) => join(STATE, 'secrets', `pg-${role}.password`);
const migrationFiles = readdirSync(join(REPO, 'packages/store/migrations')).filter((f) => f.endsWith('.sql')).sort();
const schema = `mig_it_${process.pid}_${randomBytes(3).toString('hex')}`;

function migrate(env: Record<string, string>, ...args: string[]) {
  const run = spawnSync(process.execPath, [join(REPO, 'docker/migrate.mjs'), ...args], {
    cwd: join(REPO, 'packages/store'),
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}
const ownerEnv = () => ({ AOETL_DATABASE_URL: url('aoetl_owner'), AOETL_DATABASE_PASSWORD_FILE: passwordFile('aoetl_owner') });

describe('migrations: the chart Job command against the local PostgreSQL', () => {
  let owner: pg.Pool;
  let gateway: pg.Pool;
  const applied = async () =>
    (await owner.query<{ name: string; run_on: Date }>(`SELECT name, run_on FROM ${schema}.pgmigrations ORDER BY id`)).rows.map(
      (r) => `${r.name}@${r.run_on.toISOString()}`,
    );
  const tables = async () =>
    (await owner.query<{ t: string }>('SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1', [schema])).rows.map((r) => r.t);

  beforeAll(() => {
    owner = createPool({ url: url('aoetl_owner'), password: readFileSync(passwordFile('aoetl_owner'), 'utf8').trim(), max: 2 });
    gateway = createPool({ url: url('aoetl_gateway'), password: readFileSync(passwordFile('aoetl_gateway'), 'utf8').trim(), max: 1 });
  });
  afterAll(async () => {
    await owner.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await owner.end();
    await gateway.end();
  });

  it('a fresh schema is "schema not ready", naming every missing relation', async () => {
    expect(await missingRelations(owner, schema)).toEqual([...REQUIRED_RELATIONS]);
    await expect(assertSchemaReady(owner, schema)).rejects.toThrow(`schema not ready: ${REQUIRED_RELATIONS.join(', ')} missing in schema ${schema}`);
  });

  it('runs twice: the first run applies every migration, the second none and changes nothing', async () => {
    const first = migrate(ownerEnv(), '--schema', schema, '--create-schema');
    expect(first.out).toContain('Migrations complete!');
    expect(first.status).toBe(0);
    expect(first.out.match(/^### MIGRATION .* \(UP\) ###$/gm)).toHaveLength(migrationFiles.length);
    const afterFirst = await applied();
    expect(afterFirst.map((a) => `${a.split('@')[0]}.sql`)).toEqual(migrationFiles);
    const tablesAfterFirst = await tables();
    expect(tablesAfterFirst).toEqual(expect.arrayContaining([...REQUIRED_RELATIONS, 'pgmigrations']));

    const second = migrate(ownerEnv(), '--schema', schema, '--create-schema');
    expect(second.status).toBe(0);
    expect(second.out).toContain('No migrations to run!');
    expect(second.out).not.toMatch(/### MIGRATION/);
    expect(await applied()).toEqual(afterFirst);
    expect(await tables()).toEqual(tablesAfterFirst);

    await expect(assertSchemaReady(owner, schema)).resolves.toBeUndefined();
  });

  it('a service role, which cannot read pgmigrations, sees the migrated schema as ready', async () => {
    // What the migrations grant a service role on public, on the test's schema (runs after the test above).
    await owner.query(`GRANT USAGE ON SCHEMA ${schema} TO aoetl_gateway`);
    await expect(gateway.query(`SELECT count(*) FROM ${schema}.pgmigrations`)).rejects.toThrow(/permission denied/);
    await expect(assertSchemaReady(gateway, schema)).resolves.toBeUndefined();
    await expect(assertSchemaReady(gateway, `${schema}_absent`)).rejects.toThrow(/^schema not ready: connections/);
  });

  it('fails visibly, without printing the password, when the owner password is wrong or unreadable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mig-it-'));
    try {
      const wrong = `wrong-${randomBytes(8).toString('hex')}`;
      writeFileSync(join(dir, 'pw'), wrong);
      const bad = migrate({ AOETL_DATABASE_URL: url('aoetl_owner'), AOETL_DATABASE_PASSWORD_FILE: join(dir, 'pw') }, '--schema', schema);
      expect(bad.status).not.toBe(0);
      expect(bad.out).toMatch(/password authentication failed for user "aoetl_owner"/);
      expect(bad.out).not.toContain(wrong);

      const missing = migrate({ AOETL_DATABASE_URL: url('aoetl_owner'), AOETL_DATABASE_PASSWORD_FILE: join(dir, 'nope') });
      expect(missing.status).toBe(1);
      expect(missing.out).toContain(`migrate: cannot read AOETL_DATABASE_PASSWORD_FILE ${join(dir, 'nope')}: ENOENT`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
