import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ConflictError, NotFoundError, type PipelineSpec } from '@aoetl/contracts';
import { isUniqueViolation } from './db.js';
import { atAndId, decodeCursor, fromMicros, micros, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import { iso, str, type Row } from './rows.js';

/** A pipeline spec as stored: the contract's spec plus its approval setting. */
export type StoredPipelineSpec = PipelineSpec & { approval?: { required: boolean } };

export interface PipelineRecord {
  id: string;
  tenant: string;
  name: string;
  spec: StoredPipelineSpec;
  version: number;
  createdBy: string;
  createdAt: string;
  updatedBy: string | null;
  updatedAt: string | null;
}

function toPipeline(r: Row): PipelineRecord {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    name: r.name as string,
    spec: r.spec as StoredPipelineSpec,
    version: Number(r.version),
    createdBy: r.created_by as string,
    createdAt: iso(r.created_at)!,
    updatedBy: str(r.updated_by),
    updatedAt: iso(r.updated_at),
  };
}

/** ConflictError on the field `name`. */
function nameTaken(name: string): ConflictError {
  const message = `a pipeline named '${name}' already exists`;
  return new ConflictError(message, { details: [{ field: 'name', message }] });
}

/**
 * Pipelines of a tenant. Every query takes the tenant: another tenant's pipeline is never found (NotFoundError),
 * so its existence does not leak. Deleting is soft: runs and artifacts keep their pipeline.
 */
export class Pipelines {
  constructor(private readonly pool: pg.Pool) {}

  /** ConflictError (field `name`) when the tenant has a live pipeline of that name. */
  async create(tenant: string, spec: StoredPipelineSpec, createdBy: string): Promise<PipelineRecord> {
    try {
      const { rows } = await this.pool.query(
        'INSERT INTO pipelines (id, tenant, name, spec, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *',
        [randomUUID(), tenant, spec.name, JSON.stringify(spec), createdBy],
      );
      return toPipeline(rows[0] as Row);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(spec.name);
      throw err;
    }
  }

  /** Live pipelines, newest first. */
  async list(tenant: string, page: PageRequest): Promise<Page<PipelineRecord>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'uuid']);
    const { rows } = await this.pool.query(
      `SELECT *, ${micros('created_at')} AS cursor_at FROM pipelines
       WHERE tenant = $1 AND deleted_at IS NULL
         AND ($2::text IS NULL OR (created_at, id) < (${fromMicros('$2')}, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [tenant, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toPipeline, atAndId);
  }

  /**
   * A live pipeline; with `includeDeleted`, also one deleted since (what a run submitted before the delete was
   * made from).
   */
  async get(tenant: string, id: string, opts: { includeDeleted?: boolean } = {}): Promise<PipelineRecord> {
    const { rows } = await this.pool.query(
      'SELECT * FROM pipelines WHERE tenant = $1 AND id = $2 AND ($3::boolean OR deleted_at IS NULL)',
      [tenant, id, opts.includeDeleted === true],
    );
    if (!rows[0]) throw new NotFoundError('pipeline not found');
    return toPipeline(rows[0] as Row);
  }

  /** Replaces the spec and bumps the version; runs already planned keep the artifact they were planned with. */
  async update(tenant: string, id: string, spec: StoredPipelineSpec, updatedBy: string): Promise<PipelineRecord> {
    try {
      const { rows } = await this.pool.query(
        `UPDATE pipelines SET name = $3, spec = $4, version = version + 1, updated_by = $5, updated_at = now()
         WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL RETURNING *`,
        [tenant, id, spec.name, JSON.stringify(spec), updatedBy],
      );
      if (!rows[0]) throw new NotFoundError('pipeline not found');
      return toPipeline(rows[0] as Row);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(spec.name);
      throw err;
    }
  }

  /** Soft delete: the pipeline disappears from the API, its runs and artifacts stay. */
  async delete(tenant: string, id: string, deletedBy: string): Promise<void> {
    const { rowCount } = await this.pool.query(
      `UPDATE pipelines SET deleted_by = $3, deleted_at = now()
       WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL`,
      [tenant, id, deletedBy],
    );
    if (rowCount !== 1) throw new NotFoundError('pipeline not found');
  }
}
