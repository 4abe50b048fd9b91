import pg from 'pg';
import { parse } from 'pg-connection-string';

export interface DatabaseConfig {
  /** postgres://user@host:port/db?sslmode=verify-full&sslrootcert=… (no password) */
  url: string;
  password: string;
  max?: number;
  applicationName?: string;
}

export function createPool(cfg: DatabaseConfig): pg.Pool {
  // Parsed here rather than passed as connectionString: pg would let the URL's (absent) password win.
  const { password: _none, ...fromUrl } = parse(cfg.url);
  return new pg.Pool({
    ...(fromUrl as pg.PoolConfig),
    password: cfg.password,
    max: cfg.max ?? 10,
    application_name: cfg.applicationName ?? 'aoetl',
    statement_timeout: 30_000,
    connectionTimeoutMillis: 10_000,
  });
}

export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}
