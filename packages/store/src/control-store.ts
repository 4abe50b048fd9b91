import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  ConflictError,
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

export interface PipelineRecord {
  id: string;
  tenant: string;
  name: string;
  spec: PipelineSpec;
  createdBy: string;
  createdAt: string;
}

export interface RunRecord {
  id: string;
  pipelineId: string;
  tenant: string;
  status: RunStatus;
  submittedBy: string;
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

export interface OutboxMessage {
  stream: string;
  message: { type: string };
}

export interface RunPatch {
  chunks?: number;
  rowsIn?: number;
  rowsOut?: number;
  bytesOut?: number;
  artifactSha256?: string;
  error?: FailureReason;
}

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (v == null ? null : Number(v));

function toRun(r: Record<string, unknown>): RunRecord {
  return {
    id: r.id as string,
    pipelineId: r.pipeline_id as string,
    tenant: r.tenant as string,
    status: r.status as RunStatus,
    submittedBy: r.submitted_by as string,
    requestId: r.request_id as string,
    artifactSha256: (r.artifact_sha256 as string | null) ?? null,
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

function toPipeline(r: Record<string, unknown>): PipelineRecord {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    name: r.name as string,
    spec: r.spec as PipelineSpec,
    createdBy: r.created_by as string,
    createdAt: iso(r.created_at)!,
  };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The control database. Every read and write takes the tenant, so one tenant never sees another's rows.
 * State changes that must produce a message write it to the outbox in the same transaction.
 */
export class ControlStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly producer: string,
  ) {}

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async getConnection(tenant: string, name: string): Promise<ConnectionDescriptor> {
    const { rows } = await this.pool.query(
      'SELECT name, kind, host, port, database, vault_role FROM connections WHERE tenant = $1 AND name = $2',
      [tenant, name],
    );
    const r = rows[0] as Record<string, unknown> | undefined;
    if (!r) throw new NotFoundError(`connection '${name}' not found`);
    return {
      name: r.name as string,
      kind: 'postgres',
      host: r.host as string,
      port: Number(r.port),
      database: r.database as string,
      vaultRole: r.vault_role as string,
    };
  }

  async createPipeline(tenant: string, spec: PipelineSpec, createdBy: string): Promise<PipelineRecord> {
    try {
      const { rows } = await this.pool.query(
        'INSERT INTO pipelines (id, tenant, name, spec, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *',
        [randomUUID(), tenant, spec.name, JSON.stringify(spec), createdBy],
      );
      return toPipeline(rows[0] as Record<string, unknown>);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`a pipeline named '${spec.name}' already exists`);
      throw err;
    }
  }

  async getPipeline(tenant: string, id: string): Promise<PipelineRecord> {
    const { rows } = await this.pool.query('SELECT * FROM pipelines WHERE tenant = $1 AND id = $2', [tenant, id]);
    const r = rows[0] as Record<string, unknown> | undefined;
    if (!r) throw new NotFoundError('pipeline not found');
    return toPipeline(r);
  }

  /**
   * Creates a queued run and its `run.requested` message in one transaction. The same idempotency key for the
   * same pipeline returns the first run instead of a new one.
   */
  async createRun(input: {
    tenant: string;
    pipelineId: string;
    submittedBy: string;
    idempotencyKey?: string;
    ctx: MessageContext;
  }): Promise<{ run: RunRecord; created: boolean }> {
    await this.getPipeline(input.tenant, input.pipelineId);
    const runId = randomUUID();
    try {
      return await inTransaction(this.pool, async (c) => {
        const { rows } = await c.query(
          `INSERT INTO runs (id, pipeline_id, tenant, status, submitted_by, idempotency_key, request_id)
           VALUES ($1, $2, $3, 'queued', $4, $5, $6) RETURNING *`,
          [runId, input.pipelineId, input.tenant, input.submittedBy, input.idempotencyKey ?? null, input.ctx.requestId],
        );
        await c.query(`INSERT INTO run_steps (run_id, status) VALUES ($1, 'queued')`, [runId]);
        await this.addOutbox(c, [
          { stream: STREAMS.requests, message: envelope('run.requested', { runId, tenant: input.tenant }, input.ctx) },
        ]);
        return { run: toRun(rows[0] as Record<string, unknown>), created: true };
      });
    } catch (err) {
      if (isUniqueViolation(err) && input.idempotencyKey) {
        const { rows } = await this.pool.query(
          'SELECT * FROM runs WHERE tenant = $1 AND pipeline_id = $2 AND idempotency_key = $3',
          [input.tenant, input.pipelineId, input.idempotencyKey],
        );
        if (rows[0]) return { run: toRun(rows[0] as Record<string, unknown>), created: false };
      }
      throw err;
    }
  }

  async getRun(tenant: string, id: string): Promise<RunRecord> {
    const { rows } = await this.pool.query('SELECT * FROM runs WHERE tenant = $1 AND id = $2', [tenant, id]);
    const r = rows[0] as Record<string, unknown> | undefined;
    if (!r) throw new NotFoundError('run not found');
    return toRun(r);
  }

  /** For the orchestrator, which acts for every tenant: the run as stored. */
  async getRunById(id: string): Promise<RunRecord> {
    const { rows } = await this.pool.query('SELECT * FROM runs WHERE id = $1', [id]);
    const r = rows[0] as Record<string, unknown> | undefined;
    if (!r) throw new NotFoundError('run not found');
    return toRun(r);
  }

  async getRunSteps(tenant: string, id: string): Promise<{ status: string; at: string; detail: unknown }[]> {
    const { rows } = await this.pool.query(
      `SELECT s.status, s.at, s.detail FROM run_steps s JOIN runs r ON r.id = s.run_id
       WHERE r.tenant = $1 AND r.id = $2 ORDER BY s.id`,
      [tenant, id],
    );
    return rows.map((r: Record<string, unknown>) => ({ status: r.status as string, at: iso(r.at)!, detail: r.detail ?? null }));
  }

  /**
   * Moves a run from one of `from` to `to`, with its messages, atomically. Returns null when the run is not in
   * one of `from` (a redelivered message finds the work already done: a no-op).
   */
  async transitionRun(
    runId: string,
    from: RunStatus[],
    to: RunStatus,
    patch: RunPatch = {},
    messages: OutboxMessage[] = [],
  ): Promise<RunRecord | null> {
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query(
        `UPDATE runs SET status = $3, updated_at = now(),
           started_at = CASE WHEN $3 = 'running' THEN now() ELSE started_at END,
           finished_at = CASE WHEN $3 IN ('succeeded', 'failed') THEN now() ELSE finished_at END,
           rows_in = COALESCE($4, rows_in), rows_out = COALESCE($5, rows_out), bytes_out = COALESCE($6, bytes_out),
           artifact_sha256 = COALESCE($7, artifact_sha256), error = COALESCE($8, error), chunks = COALESCE($9, chunks)
         WHERE id = $1 AND status = ANY($2::text[]) RETURNING *`,
        [runId, from, to, patch.rowsIn ?? null, patch.rowsOut ?? null, patch.bytesOut ?? null,
          patch.artifactSha256 ?? null, patch.error ? JSON.stringify(patch.error) : null, patch.chunks ?? null],
      );
      if (rows.length === 0) return null;
      await c.query('INSERT INTO run_steps (run_id, status, detail) VALUES ($1, $2, $3)', [
        runId, to, patch.error ? JSON.stringify({ error: patch.error }) : null,
      ]);
      await this.addOutbox(c, messages);
      return toRun(rows[0] as Record<string, unknown>);
    });
  }

  /**
   * Records that a chunk is staged (a redelivered result changes nothing). When this makes every chunk staged,
   * the commit row is inserted and `onAllStaged`'s messages are written to the outbox in the same transaction,
   * so the commit is dispatched exactly once.
   */
  async recordChunk(
    runId: string,
    chunk: number,
    counts: { rowsIn: number; rowsOut: number; bytesOut: number },
    onAllStaged: () => OutboxMessage[],
  ): Promise<{ staged: number; of: number; commitDispatched: boolean }> {
    return inTransaction(this.pool, async (c) => {
      await c.query(
        `INSERT INTO run_chunks (run_id, chunk, rows_in, rows_out, bytes_out, finished_at)
         VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT DO NOTHING`,
        [runId, chunk, counts.rowsIn, counts.rowsOut, counts.bytesOut],
      );
      await c.query('UPDATE runs SET updated_at = now() WHERE id = $1', [runId]);
      const { rows } = await c.query(
        `SELECT r.chunks, count(c.chunk) FILTER (WHERE c.chunk >= 0) AS staged
         FROM runs r LEFT JOIN run_chunks c ON c.run_id = r.id WHERE r.id = $1 GROUP BY r.chunks`,
        [runId],
      );
      const of = Number((rows[0] as { chunks: number }).chunks);
      const staged = Number((rows[0] as { staged: string }).staged);
      let commitDispatched = false;
      if (staged === of) {
        const ins = await c.query('INSERT INTO run_chunks (run_id, chunk) VALUES ($1, -1) ON CONFLICT DO NOTHING', [runId]);
        if (ins.rowCount === 1) {
          await this.addOutbox(c, onAllStaged());
          commitDispatched = true;
        }
      }
      return { staged, of, commitDispatched };
    });
  }

  /** Row and byte totals over a run's staged chunks. */
  async chunkTotals(runId: string): Promise<{ rowsIn: number; rowsOut: number; bytesOut: number }> {
    const { rows } = await this.pool.query(
      `SELECT coalesce(sum(rows_in), 0) AS rows_in, coalesce(sum(rows_out), 0) AS rows_out, coalesce(sum(bytes_out), 0) AS bytes_out
       FROM run_chunks WHERE run_id = $1 AND chunk >= 0`,
      [runId],
    );
    const r = rows[0] as Record<string, string>;
    return { rowsIn: Number(r.rows_in), rowsOut: Number(r.rows_out), bytesOut: Number(r.bytes_out) };
  }

  /** Runs not finished whose last change is older than `idleMs`: what a restarted orchestrator must resume. */
  async runsInFlight(idleMs: number, limit = 100): Promise<RunRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM runs WHERE status IN ('queued', 'planning', 'running')
       AND updated_at < now() - make_interval(secs => $1::double precision / 1000) ORDER BY updated_at LIMIT $2`,
      [idleMs, limit],
    );
    return rows.map((r) => toRun(r as Record<string, unknown>));
  }

  /** Marks a run as touched (so the reconciler leaves it alone for a while). */
  async touchRun(runId: string): Promise<void> {
    await this.pool.query('UPDATE runs SET updated_at = now() WHERE id = $1', [runId]);
  }

  /** Chunks of a run that are staged. */
  async stagedChunks(runId: string): Promise<number[]> {
    const { rows } = await this.pool.query('SELECT chunk FROM run_chunks WHERE run_id = $1 AND chunk >= 0', [runId]);
    return rows.map((r: { chunk: number }) => Number(r.chunk));
  }

  /** Stores code as the pipeline's next artifact version, unless the same bytes are already stored. */
  async storeArtifact(pipelineId: string, language: string, code: string): Promise<{ sha256: string; version: number }> {
    const sha256 = sha256Hex(code);
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await this.pool.query(
        'SELECT version FROM artifacts WHERE pipeline_id = $1 AND sha256 = $2',
        [pipelineId, sha256],
      );
      if (existing.rows[0]) return { sha256, version: Number((existing.rows[0] as { version: number }).version) };
      try {
        const { rows } = await this.pool.query(
          `INSERT INTO artifacts (pipeline_id, version, sha256, language, code)
           SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4 FROM artifacts WHERE pipeline_id = $1
           RETURNING version`,
          [pipelineId, sha256, language, code],
        );
        return { sha256, version: Number((rows[0] as { version: number }).version) };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err; // a concurrent writer took the version: look again
      }
    }
    throw new ConflictError('could not store the artifact: too many concurrent versions');
  }

  async getArtifactCode(pipelineId: string, sha256: string): Promise<string> {
    const { rows } = await this.pool.query('SELECT code FROM artifacts WHERE pipeline_id = $1 AND sha256 = $2', [
      pipelineId,
      sha256,
    ]);
    const r = rows[0] as { code: string } | undefined;
    if (!r) throw new NotFoundError('artifact not found');
    return r.code;
  }

  /** Publishes this producer's unpublished outbox rows in order. Publishing twice is harmless downstream. */
  async relayOutbox(publish: (stream: string, message: { type: string }) => Promise<unknown>, batch = 100): Promise<number> {
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query(
        `SELECT id, stream, message FROM outbox WHERE producer = $1 AND published_at IS NULL
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [this.producer, batch],
      );
      for (const r of rows as { stream: string; message: { type: string } }[]) await publish(r.stream, r.message);
      if (rows.length > 0) {
        await c.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
          rows.map((r: { id: string }) => r.id),
        ]);
      }
      return rows.length;
    });
  }

  private async addOutbox(c: pg.PoolClient, messages: OutboxMessage[]): Promise<void> {
    for (const m of messages) {
      await c.query('INSERT INTO outbox (producer, stream, message) VALUES ($1, $2, $3)', [
        this.producer,
        m.stream,
        JSON.stringify(m.message),
      ]);
    }
  }
}
