/**
 * A throwaway control database on the local stack's PostgreSQL, migrated from this tree's migrations, for tests of
 * migrations the shared `aoetl` database may not have yet. Each service role connects to it with its own grants.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { REPO, STATE, psqlAdmin, stackEnv } from './stack.js';

export interface FreshDb {
  name: string;
  pool(role: 'aoetl_gateway' | 'aoetl_orchestrator' | 'aoetl_owner'): pg.Pool;
  drop(): Promise<void>;
}

/** Creates `name`, migrates it as the owner role, and hands out pools per role; `drop()` ends them and drops it. */
export function freshControlDb(name: string): FreshDb {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`not a database name: ${name}`);
  const test = stackEnv('test');
  psqlAdmin('postgres', `CREATE DATABASE ${name} OWNER aoetl_owner`);
  psqlAdmin('postgres', `REVOKE ALL ON DATABASE ${name} FROM PUBLIC; GRANT CONNECT ON DATABASE ${name} TO aoetl_gateway, aoetl_orchestrator`);
  psqlAdmin(name, 'REVOKE CREATE ON SCHEMA public FROM PUBLIC');
  const port = Number(test.AOETL_PG_PORT ?? '5433');
  const ca = join(STATE, 'certs', 'ca.crt');
  const url = (role: string) => `postgres://${role}@127.0.0.1:${port}/${name}?sslmode=verify-full&sslrootcert=${ca}`;
  const password = (role: string) => test[`AOETL_PG_${role.replace(/^aoetl_/, '').toUpperCase()}_PASSWORD`]!;
  execFileSync('pnpm', ['--silent', 'exec', 'node-pg-migrate', 'up', '-m', 'migrations', '--migration-file-language', 'sql',
    '--migrations-table', 'pgmigrations'], {
    cwd: join(REPO, 'packages', 'store'),
    env: { ...process.env, DATABASE_URL: url('aoetl_owner').replace('aoetl_owner@', `aoetl_owner:${encodeURIComponent(password('aoetl_owner'))}@`) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pools: pg.Pool[] = [];
  return {
    name,
    pool(role) {
      const p = new pg.Pool({
        host: '127.0.0.1', port, database: name, user: role, password: password(role), max: 3,
        application_name: `fresh-db-${role}`, ssl: { ca: readFileSync(ca, 'utf8') },
      });
      pools.push(p);
      return p;
    },
    async drop() {
      await Promise.all(pools.map((p) => p.end()));
      psqlAdmin('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
