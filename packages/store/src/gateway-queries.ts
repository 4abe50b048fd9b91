import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  STREAMS,
  envelope,
  type ConnectionDescriptor,
  type FailureReason,
  type MessageContext,
  type PipelineSpec,
  type RunStatus,
} from '@aoetl/contracts';
import { inTransaction, isUniqueViolation } from './db.js';

/** Run statuses including the two only the gateway writes (the orchestrator never sees them). */
export type GatewayRunStatus = RunStatus | 'awaiting_approval' | 'cancelled';
export const CANCELLABLE_STATUSES: readonly GatewayRunStatus[] = ['awaiting_approval', 'queued', 'planning'];
export const FINAL_STATUSES: readonly GatewayRunStatus[] = ['succeeded', 'failed', 'cancelled'];

/** A pipeline spec as the API stores it: the contract's spec plus the gateway's approval setting. */
export type StoredPipelineSpec = PipelineSpec & { approval?: { required: boolean } };

export interface GatewayPipeline {
  id: string;
  name: string;
  spec: StoredPipelineSpec;
  version: number;
  createdBy: string;
  createdAt: string;
  updatedBy: string | null;
  updatedAt: string | null;
}

export interface GatewayRun {
  id: string;
  pipelineId: string;
  status: GatewayRunStatus;
  approvalRequired: boolean;
  submittedBy: string;
  cancelledBy: string | null;
  requestId: string;
  artifactSha256: string | null;
  chunks: number;
  rowsIn: number | null;
  rowsOut: number | null;
  bytesOut: number | null;
  error: FailureReason | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RunStepRecord {
  id: number;
  status: string;
  at: string;
  detail: unknown;
}

export type ApprovalState = 'pending' | 'approved' | 'rejected' | 'withdrawn';

export interface ApprovalRecord {
  runId: string;
  pipelineId: string;
  submittedBy: string;
  requestedAt: string;
  state: ApprovalState;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
}

export interface ConnectionRecord extends ConnectionDescriptor {
  createdBy: string;
  createdAt: string;
  updatedBy: string | null;
  updatedAt: string | null;
}

export interface ArtifactRecord {
  version: number;
  sha256: string;
  language: string;
  bytes: number;
  createdAt: string;
}

export interface AuditEvent {
  id: string;
  at: string;
  kind: string;
  actor: string;
  pipelineId: string | null;
  runId: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditFilter {
  kind?: string;
  actor?: string;
  pipelineId?: string;
  runId?: string;
  since?: string;
  until?: string;
}

export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Cursors: opaque to callers, a base64url JSON array of the sort key of the last row returned.

type CursorPart = 'micros' | 'uuid' | 'text' | 'int';
const CURSOR_CHECK: Record<CursorPart, (v: unknown) => boolean> = {
  micros: (v) => typeof v === 'string' && /^-?\d{1,19}$/.test(v),
  uuid: (v) => typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
  text: (v) => typeof v === 'string' && v.length <= 200,
  int: (v) => typeof v === 'number' && Number.isSafeInteger(v),
};

function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string | undefined, shape: CursorPart[]): (string | number)[] | null {
  if (cursor === undefined) return null;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== shape.length || !shape.every((s, i) => CURSOR_CHECK[s](parts[i]))) {
    throw new InputError('querystring/cursor: not a cursor this list returned', {
      details: [{ field: 'querystring/cursor', message: 'is not a cursor this list returned' }],
    });
  }
  return parts as (string | number)[];
}

function pageSize(limit: number): number {
  return Math.min(Math.max(Math.trunc(limit) || 1, 1), MAX_PAGE_SIZE);
}

function toPage<R, T>(rows: R[], limit: number, map: (r: R) => T, key: (r: R) => (string | number)[]): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept.map(map), nextCursor: more ? encodeCursor(key(kept[kept.length - 1]!)) : null };
}

/** SQL for a timestamp column's exact microseconds since the epoch (the cursor form of a timestamp). */
const micros = (col: string) => `(extract(epoch FROM ${col}) * 1000000)::bigint::text`;
/** SQL for the timestamp a micros cursor parameter stands for. */
const fromMicros = (param: string) => `(timestamptz 'epoch' + ${param}::bigint * interval '1 microsecond')`;

// ---------------------------------------------------------------------------------------------------------------
// Row mapping

type Row = Record<string, unknown>;
const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (v == null ? null : Number(v));
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function toPipeline(r: Row): GatewayPipeline {
  return {
    id: r.id as string,
    name: r.name as string,
    spec: r.spec as StoredPipelineSpec,
    version: Number(r.version),
    createdBy: r.created_by as string,
    createdAt: iso(r.created_at)!,
    updatedBy: str(r.updated_by),
    updatedAt: iso(r.updated_at),
  };
}

function toRun(r: Row): GatewayRun {
  return {
    id: r.id as string,
    pipelineId: r.pipeline_id as string,
    status: r.status as GatewayRunStatus,
    approvalRequired: r.approval_required === true,
    submittedBy: r.submitted_by as string,
    cancelledBy: str(r.cancelled_by),
    requestId: r.request_id as string,
    artifactSha256: str(r.artifact_sha256),
    chunks: Number(r.chunks ?? 1),
    rowsIn: num(r.rows_in),
    rowsOut: num(r.rows_out),
    bytesOut: num(r.bytes_out),
    error: (r.error as FailureReason | null) ?? null,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}

function toApproval(r: Row): ApprovalRecord {
  const decision = str(r.decision) as 'approved' | 'rejected' | null;
  return {
    runId: r.id as string,
    pipelineId: r.pipeline_id as string,
    submittedBy: r.submitted_by as string,
    requestedAt: iso(r.created_at)!,
    state: decision ?? (r.status === 'awaiting_approval' ? 'pending' : 'withdrawn'),
    decidedBy: str(r.decided_by),
    decidedAt: iso(r.decided_at),
    comment: str(r.comment),
  };
}

function toConnection(r: Row): ConnectionRecord {
  return {
    name: r.name as string,
    kind: 'postgres',
    host: r.host as string,
    port: Number(r.port),
    database: r.database as string,
    vaultRole: r.vault_role as string,
    createdBy: r.created_by as string,
    createdAt: iso(r.created_at)!,
    updatedBy: str(r.updated_by),
    updatedAt: iso(r.updated_at),
  };
}

const APPROVAL_STATE_SQL = `CASE WHEN a.decision IS NOT NULL THEN a.decision
  WHEN r.status = 'awaiting_approval' THEN 'pending' ELSE 'withdrawn' END`;

/**
 * What the API gateway reads and writes in the control database, beyond ControlStore. Every query takes the
 * caller's tenant: another tenant's rows are never found (NotFoundError), so their existence does not leak.
 */
export class GatewayStore {
  constructor(
    private readonly pool: pg.Pool,
    /** Outbox producer name; the gateway's relay publishes only its own rows. */
    private readonly producer = 'agent-gateway',
  ) {}

  // ------------------------------------------------------------------------------------------------ pipelines

  async connectionExists(tenant: string, name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM connections WHERE tenant = $1 AND name = $2', [tenant, name]);
    return rowCount === 1;
  }

  async createPipeline(tenant: string, spec: StoredPipelineSpec, createdBy: string): Promise<GatewayPipeline> {
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

  async listPipelines(tenant: string, page: PageRequest): Promise<Page<GatewayPipeline>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'uuid']);
    const { rows } = await this.pool.query(
      `SELECT *, ${micros('created_at')} AS cursor_at FROM pipelines
       WHERE tenant = $1 AND deleted_at IS NULL
         AND ($2::text IS NULL OR (created_at, id) < (${fromMicros('$2')}, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [tenant, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toPipeline, (r) => [r.cursor_at as string, r.id as string]);
  }

  /** A pipeline that is not deleted. */
  async getPipeline(tenant: string, id: string): Promise<GatewayPipeline> {
    const { rows } = await this.pool.query('SELECT * FROM pipelines WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL', [
      tenant,
      id,
    ]);
    if (!rows[0]) throw new NotFoundError('pipeline not found');
    return toPipeline(rows[0] as Row);
  }

  /** Replaces the spec and bumps the version; runs already planned keep the artifact they were planned with. */
  async updatePipeline(tenant: string, id: string, spec: StoredPipelineSpec, updatedBy: string): Promise<GatewayPipeline> {
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
  async deletePipeline(tenant: string, id: string, deletedBy: string): Promise<void> {
    const { rowCount } = await this.pool.query(
      `UPDATE pipelines SET deleted_by = $3, deleted_at = now()
       WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL`,
      [tenant, id, deletedBy],
    );
    if (rowCount !== 1) throw new NotFoundError('pipeline not found');
  }

  // ------------------------------------------------------------------------------------------------ runs

  /**
   * Creates a run. When `needsApproval(spec)` it waits in `awaiting_approval` and no message is sent; otherwise it
   * is `queued` and its `run.requested` message goes to the outbox in the same transaction. The same idempotency
   * key for the same pipeline returns the first run (`created: false`).
   */
  async createRun(input: {
    tenant: string;
    pipelineId: string;
    submittedBy: string;
    idempotencyKey?: string;
    ctx: MessageContext;
    needsApproval: (spec: StoredPipelineSpec) => boolean;
  }): Promise<{ run: GatewayRun; created: boolean }> {
    const pipeline = await this.getPipeline(input.tenant, input.pipelineId);
    const approval = input.needsApproval(pipeline.spec);
    const status: GatewayRunStatus = approval ? 'awaiting_approval' : 'queued';
    const runId = randomUUID();
    try {
      return await inTransaction(this.pool, async (c) => {
        const { rows } = await c.query(
          `INSERT INTO runs (id, pipeline_id, tenant, status, submitted_by, idempotency_key, request_id, approval_required)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
          [runId, input.pipelineId, input.tenant, status, input.submittedBy, input.idempotencyKey ?? null,
            input.ctx.requestId, approval],
        );
        await c.query('INSERT INTO run_steps (run_id, status) VALUES ($1, $2)', [runId, status]);
        if (!approval) await this.requestRun(c, runId, input.tenant, input.ctx);
        return { run: toRun(rows[0] as Row), created: true };
      });
    } catch (err) {
      if (isUniqueViolation(err) && input.idempotencyKey !== undefined) {
        const { rows } = await this.pool.query(
          'SELECT * FROM runs WHERE tenant = $1 AND pipeline_id = $2 AND idempotency_key = $3',
          [input.tenant, input.pipelineId, input.idempotencyKey],
        );
        if (rows[0]) return { run: toRun(rows[0] as Row), created: false };
      }
      throw err;
    }
  }

  async getRun(tenant: string, id: string): Promise<GatewayRun> {
    const { rows } = await this.pool.query('SELECT * FROM runs WHERE tenant = $1 AND id = $2', [tenant, id]);
    if (!rows[0]) throw new NotFoundError('run not found');
    return toRun(rows[0] as Row);
  }

  async listRuns(
    tenant: string,
    filter: { pipelineId?: string | undefined; status?: GatewayRunStatus | undefined },
    page: PageRequest,
  ): Promise<Page<GatewayRun>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'uuid']);
    const { rows } = await this.pool.query(
      `SELECT *, ${micros('created_at')} AS cursor_at FROM runs
       WHERE tenant = $1 AND ($2::uuid IS NULL OR pipeline_id = $2) AND ($3::text IS NULL OR status = $3)
         AND ($4::text IS NULL OR (created_at, id) < (${fromMicros('$4')}, $5::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $6`,
      [tenant, filter.pipelineId ?? null, filter.status ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toRun, (r) => [r.cursor_at as string, r.id as string]);
  }

  async getRunSteps(tenant: string, runId: string): Promise<RunStepRecord[]> {
    const page = await this.runStepsAfter(tenant, runId, 0, 10_000);
    if (!page) throw new NotFoundError('run not found');
    return page.steps;
  }

  /**
   * The run's status and its steps after step id `afterId`, in order; null when the run is not the tenant's.
   * One statement, so a final status is never seen before the step that recorded it.
   */
  async runStepsAfter(
    tenant: string,
    runId: string,
    afterId: number,
    limit = 100,
  ): Promise<{ status: GatewayRunStatus; steps: RunStepRecord[] } | null> {
    const { rows } = await this.pool.query(
      `SELECT r.status AS run_status, s.id, s.status, s.at, s.detail
       FROM runs r LEFT JOIN LATERAL (
         SELECT id, status, at, detail FROM run_steps WHERE run_id = r.id AND id > $3 ORDER BY id LIMIT $4
       ) s ON true
       WHERE r.tenant = $1 AND r.id = $2 ORDER BY s.id`,
      [tenant, runId, afterId, limit],
    );
    if (rows.length === 0) return null;
    const steps = (rows as Row[])
      .filter((r) => r.id !== null)
      .map((r) => ({ id: Number(r.id), status: r.status as string, at: iso(r.at)!, detail: r.detail ?? null }));
    return { status: (rows[0] as Row).run_status as GatewayRunStatus, steps };
  }

  /**
   * Cancels a run that has not started running (awaiting approval, queued or planning). The orchestrator's
   * transitions only move runs out of the statuses they expect, so a cancelled run is never planned or started.
   */
  async cancelRun(tenant: string, runId: string, by: string, mayCancelOthers: boolean): Promise<GatewayRun> {
    return inTransaction(this.pool, async (c) => {
      const run = await lockRun(c, tenant, runId);
      if (run.submittedBy !== by && !mayCancelOthers) {
        throw new NotAllowedError('only the submitter or an admin may cancel this run');
      }
      if (!CANCELLABLE_STATUSES.includes(run.status)) {
        throw new ConflictError(`the run is ${run.status}; only a run that has not started running can be cancelled`);
      }
      const { rows } = await c.query(
        `UPDATE runs SET status = 'cancelled', cancelled_by = $2, updated_at = now(), finished_at = now()
         WHERE id = $1 RETURNING *`,
        [runId, by],
      );
      await c.query(`INSERT INTO run_steps (run_id, status, detail) VALUES ($1, 'cancelled', $2)`, [
        runId,
        JSON.stringify({ by }),
      ]);
      return toRun(rows[0] as Row);
    });
  }

  // ------------------------------------------------------------------------------------------------ approvals

  /**
   * Records the decision on a run awaiting approval, four eyes: the decider must not be the submitter (checked
   * here and by a database trigger). Approved: the run becomes `queued` and its `run.requested` message goes to
   * the outbox in the same transaction. Rejected: the run is `cancelled`.
   */
  async decideApproval(input: {
    tenant: string;
    runId: string;
    decidedBy: string;
    decision: 'approved' | 'rejected';
    comment?: string | undefined;
    ctx: MessageContext;
  }): Promise<ApprovalRecord> {
    return inTransaction(this.pool, async (c) => {
      const run = await lockRun(c, input.tenant, input.runId);
      if (!run.approvalRequired) throw new ConflictError('this run does not need an approval');
      if (run.submittedBy === input.decidedBy) {
        throw new NotAllowedError('four eyes: an approval must come from another identity than the submitter');
      }
      if (run.status !== 'awaiting_approval') throw new ConflictError(`the run is ${run.status}, not awaiting approval`);
      await c.query('INSERT INTO approvals (run_id, tenant, decision, decided_by, comment) VALUES ($1, $2, $3, $4, $5)', [
        run.id, input.tenant, input.decision, input.decidedBy, input.comment ?? null,
      ]);
      const next: GatewayRunStatus = input.decision === 'approved' ? 'queued' : 'cancelled';
      await c.query(
        `UPDATE runs SET status = $2, updated_at = now(),
           finished_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE finished_at END,
           cancelled_by = CASE WHEN $2 = 'cancelled' THEN $3 ELSE cancelled_by END
         WHERE id = $1`,
        [run.id, next, input.decidedBy],
      );
      await c.query('INSERT INTO run_steps (run_id, status, detail) VALUES ($1, $2, $3)', [
        run.id,
        next,
        JSON.stringify({ by: input.decidedBy, approval: input.decision }),
      ]);
      if (next === 'queued') await this.requestRun(c, run.id, input.tenant, input.ctx);
      return this.approvalOf(c, input.tenant, run.id);
    });
  }

  async getApproval(tenant: string, runId: string): Promise<ApprovalRecord> {
    return this.approvalOf(this.pool, tenant, runId);
  }

  async listApprovals(tenant: string, filter: { state?: ApprovalState | undefined }, page: PageRequest): Promise<Page<ApprovalRecord>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'uuid']);
    const { rows } = await this.pool.query(
      `SELECT r.id, r.pipeline_id, r.submitted_by, r.created_at, r.status, a.decision, a.decided_by, a.decided_at, a.comment,
              ${micros('r.created_at')} AS cursor_at
       FROM runs r LEFT JOIN approvals a ON a.run_id = r.id
       WHERE r.tenant = $1 AND r.approval_required AND ($2::text IS NULL OR ${APPROVAL_STATE_SQL} = $2)
         AND ($3::text IS NULL OR (r.created_at, r.id) < (${fromMicros('$3')}, $4::uuid))
       ORDER BY r.created_at DESC, r.id DESC LIMIT $5`,
      [tenant, filter.state ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toApproval, (r) => [r.cursor_at as string, r.id as string]);
  }

  // ------------------------------------------------------------------------------------------------ connections

  async listConnections(tenant: string, page: PageRequest): Promise<Page<ConnectionRecord>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['text']);
    const { rows } = await this.pool.query(
      `SELECT * FROM connections WHERE tenant = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3`,
      [tenant, after?.[0] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toConnection, (r) => [r.name as string]);
  }

  async getConnection(tenant: string, name: string): Promise<ConnectionRecord> {
    const { rows } = await this.pool.query('SELECT * FROM connections WHERE tenant = $1 AND name = $2', [tenant, name]);
    if (!rows[0]) throw new NotFoundError(`connection '${name}' not found`);
    return toConnection(rows[0] as Row);
  }

  /** Registers or replaces a connection descriptor (no secret material: Vault issues the credentials). */
  async putConnection(
    tenant: string,
    connection: ConnectionDescriptor,
    by: string,
  ): Promise<{ connection: ConnectionRecord; created: boolean }> {
    const { rows } = await this.pool.query(
      `INSERT INTO connections (tenant, name, kind, host, port, database, vault_role, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (tenant, name) DO UPDATE SET kind = EXCLUDED.kind, host = EXCLUDED.host, port = EXCLUDED.port,
         database = EXCLUDED.database, vault_role = EXCLUDED.vault_role, updated_by = $8, updated_at = now()
       RETURNING *, (xmax = 0) AS inserted`,
      [tenant, connection.name, connection.kind, connection.host, connection.port, connection.database,
        connection.vaultRole, by],
    );
    const r = rows[0] as Row;
    return { connection: toConnection(r), created: r.inserted === true };
  }

  /** Deletes a connection no live pipeline uses (ConflictError otherwise). */
  async deleteConnection(tenant: string, name: string): Promise<void> {
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

  // ------------------------------------------------------------------------------------------------ artifacts

  async listArtifacts(tenant: string, pipelineId: string, page: PageRequest): Promise<Page<ArtifactRecord>> {
    await this.getPipeline(tenant, pipelineId);
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['int']);
    const { rows } = await this.pool.query(
      `SELECT version, sha256, language, octet_length(code) AS bytes, created_at FROM artifacts
       WHERE pipeline_id = $1 AND ($2::int IS NULL OR version < $2) ORDER BY version DESC LIMIT $3`,
      [pipelineId, after?.[0] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toArtifact, (r) => [Number(r.version)]);
  }

  async getArtifact(tenant: string, pipelineId: string, version: number): Promise<ArtifactRecord & { code: string }> {
    const { rows } = await this.pool.query(
      `SELECT a.version, a.sha256, a.language, octet_length(a.code) AS bytes, a.created_at, a.code
       FROM artifacts a JOIN pipelines p ON p.id = a.pipeline_id
       WHERE p.tenant = $1 AND p.id = $2 AND p.deleted_at IS NULL AND a.version = $3`,
      [tenant, pipelineId, version],
    );
    if (!rows[0]) throw new NotFoundError('artifact not found');
    const r = rows[0] as Row;
    return { ...toArtifact(r), code: r.code as string };
  }

  // ------------------------------------------------------------------------------------------------ audit

  /**
   * The tenant's audit trail as it can be reconstructed from the control database: pipelines created, updated
   * and deleted, connections registered, runs submitted and every run status change, artifacts stored and
   * approval decisions. Newest first.
   */
  async audit(tenant: string, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'text']);
    const { rows } = await this.pool.query(
      `WITH ev AS (
         SELECT 'pipeline:' || id || ':created' AS id, created_at AS at, 'pipeline.created' AS kind, created_by AS actor,
                id AS pipeline_id, NULL::uuid AS run_id, jsonb_build_object('name', spec->>'name') AS detail
         FROM pipelines WHERE tenant = $1
         UNION ALL
         SELECT 'pipeline:' || id || ':updated', updated_at, 'pipeline.updated', updated_by, id, NULL,
                jsonb_build_object('name', name, 'version', version)
         FROM pipelines WHERE tenant = $1 AND updated_at IS NOT NULL
         UNION ALL
         SELECT 'pipeline:' || id || ':deleted', deleted_at, 'pipeline.deleted', deleted_by, id, NULL,
                jsonb_build_object('name', name)
         FROM pipelines WHERE tenant = $1 AND deleted_at IS NOT NULL
         UNION ALL
         SELECT 'connection:' || name || ':created', created_at, 'connection.registered', created_by, NULL, NULL,
                jsonb_build_object('name', name, 'host', host, 'port', port, 'database', database, 'vaultRole', vault_role)
         FROM connections WHERE tenant = $1
         UNION ALL
         SELECT 'connection:' || name || ':updated', updated_at, 'connection.updated', updated_by, NULL, NULL,
                jsonb_build_object('name', name, 'host', host, 'port', port, 'database', database, 'vaultRole', vault_role)
         FROM connections WHERE tenant = $1 AND updated_at IS NOT NULL
         UNION ALL
         SELECT 'run:' || id, created_at, 'run.submitted', submitted_by, pipeline_id, id,
                jsonb_build_object('requestId', request_id, 'approvalRequired', approval_required)
         FROM runs WHERE tenant = $1
         UNION ALL
         SELECT 'step:' || lpad(s.id::text, 19, '0'), s.at, 'run.status', coalesce(s.detail->>'by', 'system'),
                r.pipeline_id, r.id, jsonb_build_object('status', s.status) || coalesce(s.detail, '{}'::jsonb)
         FROM run_steps s JOIN runs r ON r.id = s.run_id WHERE r.tenant = $1
         UNION ALL
         SELECT 'artifact:' || a.pipeline_id || ':' || lpad(a.version::text, 10, '0'), a.created_at, 'artifact.stored',
                'system', a.pipeline_id, NULL, jsonb_build_object('version', a.version, 'sha256', a.sha256, 'language', a.language)
         FROM artifacts a JOIN pipelines p ON p.id = a.pipeline_id WHERE p.tenant = $1
         UNION ALL
         SELECT 'approval:' || ap.run_id, ap.decided_at, 'approval.' || ap.decision, ap.decided_by, r.pipeline_id, r.id,
                jsonb_build_object('comment', ap.comment)
         FROM approvals ap JOIN runs r ON r.id = ap.run_id WHERE ap.tenant = $1
       )
       SELECT ev.*, ${micros('ev.at')} AS cursor_at FROM ev
       WHERE ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR actor = $3)
         AND ($4::uuid IS NULL OR pipeline_id = $4) AND ($5::uuid IS NULL OR run_id = $5)
         AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
         AND ($8::text IS NULL OR (at, id) < (${fromMicros('$8')}, $9::text))
       ORDER BY at DESC, id DESC LIMIT $10`,
      [tenant, filter.kind ?? null, filter.actor ?? null, filter.pipelineId ?? null, filter.runId ?? null,
        filter.since ?? null, filter.until ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(
      rows as Row[],
      limit,
      (r) => ({
        id: r.id as string,
        at: iso(r.at)!,
        kind: r.kind as string,
        actor: r.actor as string,
        pipelineId: str(r.pipeline_id),
        runId: str(r.run_id),
        detail: (r.detail as Record<string, unknown> | null) ?? null,
      }),
      (r) => [r.cursor_at as string, r.id as string],
    );
  }

  // ------------------------------------------------------------------------------------------------ internals

  private async approvalOf(q: pg.Pool | pg.PoolClient, tenant: string, runId: string): Promise<ApprovalRecord> {
    const { rows } = await q.query(
      `SELECT r.id, r.pipeline_id, r.submitted_by, r.created_at, r.status, r.approval_required,
              a.decision, a.decided_by, a.decided_at, a.comment
       FROM runs r LEFT JOIN approvals a ON a.run_id = r.id WHERE r.tenant = $1 AND r.id = $2`,
      [tenant, runId],
    );
    const r = rows[0] as Row | undefined;
    if (!r) throw new NotFoundError('run not found');
    if (r.approval_required !== true) throw new NotFoundError('this run has no approval');
    return toApproval(r);
  }

  private async requestRun(c: pg.PoolClient, runId: string, tenant: string, ctx: MessageContext): Promise<void> {
    await c.query('INSERT INTO outbox (producer, stream, message) VALUES ($1, $2, $3)', [
      this.producer,
      STREAMS.requests,
      JSON.stringify(envelope('run.requested', { runId, tenant }, ctx)),
    ]);
  }
}

async function lockRun(c: pg.PoolClient, tenant: string, runId: string): Promise<GatewayRun> {
  const { rows } = await c.query('SELECT * FROM runs WHERE tenant = $1 AND id = $2 FOR UPDATE', [tenant, runId]);
  if (!rows[0]) throw new NotFoundError('run not found');
  return toRun(rows[0] as Row);
}

function toArtifact(r: Row): ArtifactRecord {
  return {
    version: Number(r.version),
    sha256: r.sha256 as string,
    language: r.language as string,
    bytes: Number(r.bytes),
    createdAt: iso(r.created_at)!,
  };
}

function nameTaken(name: string): ConflictError {
  return new ConflictError(`a pipeline named '${name}' already exists`, {
    details: [{ field: 'body/name', message: `a pipeline named '${name}' already exists` }],
  });
}
