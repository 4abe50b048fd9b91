import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertSchemaReady, REQUIRED_MIGRATION, REQUIRED_RELATIONS, SchemaNotReadyError, type SchemaQueryable } from './schema-version.js';

const MIGRATIONS = join(__dirname, '..', 'migrations');
const files = readdirSync(MIGRATIONS).filter((f) => f.endsWith('.sql')).sort();

describe('the schema version the code needs', () => {
  it('is the newest migration file', () => {
    expect(`${REQUIRED_MIGRATION}.sql`).toBe(files[files.length - 1]);
  });

  it('requires exactly the relations the migrations create', () => {
    const created = files.flatMap((f) =>
      [...readFileSync(join(MIGRATIONS, f), 'utf8').matchAll(/^\s*CREATE TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)/gim)].map((m) => m[1]!),
    );
    expect([...REQUIRED_RELATIONS].sort()).toEqual([...new Set(created)].sort());
  });
});

describe('assertSchemaReady', () => {
  const db = (missing: string[]): SchemaQueryable => ({
    query: async <R>() => ({ rows: missing.map((relation) => ({ relation })) as unknown as R[] }),
  });

  it('passes when nothing is missing', async () => {
    await expect(assertSchemaReady(db([]))).resolves.toBeUndefined();
  });

  it('says "schema not ready" and names what is missing', async () => {
    const err = await assertSchemaReady(db(['approvals']), 'public').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaNotReadyError);
    expect((err as Error).message).toMatch(new RegExp(`^schema not ready: approvals missing in schema public; apply the migrations up to ${REQUIRED_MIGRATION} `));
  });
});
