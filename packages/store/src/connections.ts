import type pg from 'pg';
import { ConflictError, NotFoundError, type ConnectionDescriptor } from '@aoetl/contracts';
import { inTransaction } from './db.js';
import { decodeCursor, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import { iso, str, type Row } from './rows.js';

/** What an admin registers: the descriptor and the schemas pipelines may reach through the connection. */
export interface ConnectionRegistration extends ConnectionDescriptor {
  /** Schemas a pipeline's source or target table may be in (reserved schemas never, whatever this says). */
  allowedSchemas: readonly string[];
}

/** A connection descriptor (a Vault reference, never a credential) with its schema reach and who registered and changed it. */
export interface ConnectionRecord extends ConnectionDescriptor {
  allowedSchemas: string[];
  createdBy: string;
  createdAt: string;
  updatedBy: string | null;
  updatedAt: string | null;
}

function toConnection(r: Row): ConnectionRecord {
  return {
    name: r.name as string,
    kind: 'postgres',
    host: r.host as string,
    port: Number(r.port),
    database: r.database as string,
    vaultRole: r.vault_role as string,
    allowedSchemas: (r.allowed_schemas as string[] | null) ?? [],
    createdBy: r.created_by as string,
    createdAt: iso(r.created_at)!,
    updatedBy: str(r.updated_by),
    updatedAt: iso(r.updated_at),
  };
}

/** Only the descriptor's fields: what a task may carry about a connection. */
export function descriptorOf(c: ConnectionDescriptor): ConnectionDescriptor {
  return { name: c.name, kind: c.kind, host: c.host, port: c.port, database: c.database, vaultRole: c.vaultRole };
}

/** A tenant's database connections, by name. */
export class Connections {
  constructor(private readonly pool: pg.Pool) {}

  async exists(tenant: string, name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM connections WHERE tenant = $1 AND name = $2', [tenant, name]);
    return rowCount === 1;
  }

  /** Connections by name. */
  async list(tenant: string, page: PageRequest): Promise<Page<ConnectionRecord>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['text']);
    const { rows } = await this.pool.query(
      `SELECT * FROM connections WHERE tenant = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3`,
      [tenant, after?.[0] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toConnection, (r) => [r.name as string]);
  }

  async get(tenant: string, name: string): Promise<ConnectionRecord> {
    const { rows } = await this.pool.query('SELECT * FROM connections WHERE tenant = $1 AND name = $2', [tenant, name]);
    if (!rows[0]) throw new NotFoundError(`connection '${name}' not found`);
    return toConnection(rows[0] as Row);
  }

  /** Registers or replaces a connection descriptor (no secret material: Vault issues the credentials). */
  async put(tenant: string, connection: ConnectionRegistration, by: string): Promise<{ connection: ConnectionRecord; created: boolean }> {
    const { rows } = await this.pool.query(
      `INSERT INTO connections (tenant, name, kind, host, port, database, vault_role, created_by, allowed_schemas)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (tenant, name) DO UPDATE SET kind = EXCLUDED.kind, host = EXCLUDED.host, port = EXCLUDED.port,
         database = EXCLUDED.database, vault_role = EXCLUDED.vault_role, allowed_schemas = EXCLUDED.allowed_schemas,
         updated_by = $8, updated_at = now()
       RETURNING *, (xmax = 0) AS inserted`,
      [tenant, connection.name, connection.kind, connection.host, connection.port, connection.database,
        connection.vaultRole, by, [...connection.allowedSchemas]],
    );
    const r = rows[0] as Row;
    return { connection: toConnection(r), created: r.inserted === true };
  }

  /** Deletes a connection no live pipeline uses (ConflictError otherwise). */
  async delete(tenant: string, name: string): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      const found = await c.query('SELECT 1 FROM connections WHERE tenant = $1 AND name = $2 FOR UPDATE', [tenant, name]);
      if (found.rowCount !== 1) throw new NotFoundError(`connection '${name}' not found`);
      const { rows } = await c.query(
        `SELECT count(*)::int AS n FROM pipelines WHERE tenant = $1 AND deleted_at IS NULL
           AND (spec->'source'->>'connection' = $2 OR spec->'target'->>'connection' = $2)`,
        [tenant, name],
      );
      const n = Number((rows[0] as Row).n);
      if (n > 0) throw new ConflictError(`connection '${name}' is used by ${n} pipeline(s)`);
      await c.query('DELETE FROM connections WHERE tenant = $1 AND name = $2', [tenant, name]);
    });
  }
}
