/** Direct connections to the stack's PostgreSQL as a given role (e.g. a dynamic credential), over TLS with the dev CA. */
import pg from 'pg';
import { devCa, psqlAdmin, stackEnv } from './stack.js';

export interface PgLogin {
  username: string;
  password: string;
}

/** A connected client as `login` to `database` (source, warehouse, aoetl). The caller ends it. */
export async function connectAs(login: PgLogin, database = 'source'): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: Number(stackEnv('test').AOETL_PG_PORT ?? 5433),
    database,
    user: login.username,
    password: login.password,
    ssl: { ca: devCa() },
    connectionTimeoutMillis: 5_000,
  });
  await client.connect();
  return client;
}

/** Whether a fresh login as `login` to `database` works. */
export async function canLogIn(login: PgLogin, database = 'source'): Promise<boolean> {
  try {
    const client = await connectAs(login, database);
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** Whether the role `name` exists in the cluster (asked as the superuser through `database`). */
export function roleExists(name: string, database = 'source'): boolean {
  return psqlAdmin(database, `SELECT count(*) FROM pg_roles WHERE rolname = '${name.replace(/'/g, "''")}'`) === '1';
}
