import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ConflictError, NotFoundError, transformLanguage, transformSource, type PipelineSpec, type StoredTransform } from '@aoetl/contracts';
import { storeArtifact } from './artifacts.js';
import { inTransaction, isUniqueViolation } from './db.js';
import { atAndId, decodeCursor, fromMicros, micros, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import { iso, str, type Row } from './rows.js';

/**
 * A pipeline spec as stored: the contract's spec plus its approval setting, its transform always carrying code (an
 * instruction is stored with the code planned from it and that code's provenance).
 */
export type StoredPipelineSpec = Omit<PipelineSpec, 'transform'> & { transform: StoredTransform; approval?: { required: boolean } };

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
  /** SHA-256 of the current version's artifact (its transform code). */
  artifactSha256: string;
  /** Runs of the current version need an approval (the pipeline asks for it, or the change that made it does). */
  approvalRequired: boolean;
}

/** One immutable version of a pipeline: what a run of that version executes. */
export interface PipelineVersionRecord {
  pipelineId: string;
  version: number;
  spec: StoredPipelineSpec;
  artifactSha256: string;
  approvalRequired: boolean;
  /** The earlier version this one restored, when it is a rollback. */
  rollbackOf: number | null;
  createdBy: string;
  createdAt: string;
}

/** How a change is written: the caller's approval decision for the new version, and what it restores. */
export interface VersionOptions {
  approvalRequired: boolean;
  rollbackOf?: number | undefined;
}

const PIPELINE_COLUMNS = 'p.*, v.artifact_sha256, v.approval_required';
const CURRENT_VERSION = 'JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.version';

function toVersion(r: Row): PipelineVersionRecord {
  return {
    pipelineId: r.pipeline_id as string,
    version: Number(r.version),
    spec: r.spec as StoredPipelineSpec,
    artifactSha256: r.artifact_sha256 as string,
    approvalRequired: r.approval_required === true,
    rollbackOf: r.rollback_of == null ? null : Number(r.rollback_of),
    createdBy: r.created_by as string,
    createdAt: iso(r.created_at)!,
  };
}

/** Writes a pipeline's version row and its artifact in the caller's transaction (which holds the pipeline's row). */
async function addVersion(c: pg.PoolClient, p: Row, by: string, opts: VersionOptions): Promise<PipelineRecord> {
  const spec = p.spec as StoredPipelineSpec;
  const artifact = await storeArtifact(c, p.id as string, transformSource(spec.transform), transformLanguage(spec.transform));
  if (spec.transform.kind === 'instruction') {
    const v = spec.transform.provenance;
    // the first request that produced these bytes keeps the artifact's provenance (content addressing)
    await c.query(
      `INSERT INTO artifact_provenance (pipeline_id, artifact_sha256, planner, planner_version, instruction_sha256, sample_sha256, requested_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (pipeline_id, artifact_sha256) DO NOTHING`,
      [p.id, artifact.sha256, v.planner, v.plannerVersion, v.instructionSha256, v.sampleSha256, v.requestedBy],
    );
  }
  await c.query(
    `INSERT INTO pipeline_versions (pipeline_id, version, spec, artifact_sha256, approval_required, rollback_of, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [p.id, p.version, JSON.stringify(spec), artifact.sha256, opts.approvalRequired, opts.rollbackOf ?? null, by],
  );
  return toPipeline({ ...p, artifact_sha256: artifact.sha256, approval_required: opts.approvalRequired });
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
    artifactSha256: r.artifact_sha256 as string,
    approvalRequired: r.approval_required === true,
  };
}

/** ConflictError on the field `name`. */
function nameTaken(name: string): ConflictError {
  const message = `a pipeline named '${name}' already exists`;
  return new ConflictError(message, { details: [{ field: 'name', message }] });
}

/**
 * Pipelines of a tenant and their immutable versions. Every query takes the tenant: another tenant's pipeline is
 * never found (NotFoundError), so its existence does not leak. Every change writes a new version row with its
 * artifact in the same transaction; versions and artifacts are never updated or deleted (database triggers).
 * Deleting is soft: runs, versions and artifacts keep their pipeline.
 */
export class Pipelines {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Creates the pipeline with its version 1 and that version's artifact, in one transaction. ConflictError (field
   * `name`) when the tenant has a live pipeline of that name.
   */
  async create(tenant: string, spec: StoredPipelineSpec, createdBy: string, opts: VersionOptions): Promise<PipelineRecord> {
    try {
      return await inTransaction(this.pool, async (c) => {
        const { rows } = await c.query(
          'INSERT INTO pipelines (id, tenant, name, spec, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *',
          [randomUUID(), tenant, spec.name, JSON.stringify(spec), createdBy],
        );
        return addVersion(c, rows[0] as Row, createdBy, opts);
      });
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
      `SELECT ${PIPELINE_COLUMNS}, ${micros('p.created_at')} AS cursor_at FROM pipelines p ${CURRENT_VERSION}
       WHERE p.tenant = $1 AND p.deleted_at IS NULL
         AND ($2::text IS NULL OR (p.created_at, p.id) < (${fromMicros('$2')}, $3::uuid))
       ORDER BY p.created_at DESC, p.id DESC LIMIT $4`,
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
      `SELECT ${PIPELINE_COLUMNS} FROM pipelines p ${CURRENT_VERSION}
       WHERE p.tenant = $1 AND p.id = $2 AND ($3::boolean OR p.deleted_at IS NULL)`,
      [tenant, id, opts.includeDeleted === true],
    );
    if (!rows[0]) throw new NotFoundError('pipeline not found');
    return toPipeline(rows[0] as Row);
  }

  /**
   * Replaces the spec as a new immutable version (with its artifact) in one transaction. `expectedVersion` is the
   * version the caller decided on: ConflictError (field `version`) when another change came first. Runs already
   * submitted keep the version they were submitted for.
   */
  async update(
    tenant: string,
    id: string,
    spec: StoredPipelineSpec,
    updatedBy: string,
    opts: VersionOptions & { expectedVersion: number },
  ): Promise<PipelineRecord> {
    try {
      return await inTransaction(this.pool, async (c) => {
        const { rows } = await c.query(
          `UPDATE pipelines SET name = $3, spec = $4, version = version + 1, updated_by = $5, updated_at = now()
           WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL AND version = $6 RETURNING *`,
          [tenant, id, spec.name, JSON.stringify(spec), updatedBy, opts.expectedVersion],
        );
        if (!rows[0]) {
          const current = await c.query('SELECT version FROM pipelines WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL', [tenant, id]);
          if (!current.rows[0]) throw new NotFoundError('pipeline not found');
          const message = `the pipeline changed since version ${opts.expectedVersion} was read; read it again`;
          throw new ConflictError(message, { details: [{ field: 'version', message }] });
        }
        return addVersion(c, rows[0] as Row, updatedBy, opts);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(spec.name);
      throw err;
    }
  }

  /** A live pipeline's versions, newest first. */
  async versions(tenant: string, id: string, page: PageRequest): Promise<Page<PipelineVersionRecord>> {
    await this.get(tenant, id);
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['int']);
    const { rows } = await this.pool.query(
      `SELECT * FROM pipeline_versions WHERE pipeline_id = $1 AND ($2::int IS NULL OR version < $2)
       ORDER BY version DESC LIMIT $3`,
      [id, after?.[0] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toVersion, (r) => [Number(r.version)]);
  }

  /** One version of a live pipeline; NotFoundError (field `version`) when it has no such version. */
  async version(tenant: string, id: string, version: number): Promise<PipelineVersionRecord> {
    await this.get(tenant, id);
    const { rows } = await this.pool.query('SELECT * FROM pipeline_versions WHERE pipeline_id = $1 AND version = $2', [id, version]);
    if (!rows[0]) {
      const message = `the pipeline has no version ${version}`;
      throw new NotFoundError(message, { details: [{ field: 'version', message }] });
    }
    return toVersion(rows[0] as Row);
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
