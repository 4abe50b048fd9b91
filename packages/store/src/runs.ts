import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  COMMIT_CHUNK,
  ConflictError,
  FAILURE_CODES,
  NotFoundError,
  STREAMS,
  envelope,
  type CheckResult,
  type CommitTask,
  type FailureReason,
  type OutputColumn,
  type QualityCheck,
  type TaskIncremental,
  type WatermarkWindow,
  type LoadTask,
  type MessageContext,
  type RunStatus,
  type TaskLimits,
} from '@aoetl/contracts';
import { inTransaction, isUniqueViolation } from './db.js';
import type { Outbox, OutboxMessage } from './outbox.js';
import type { StoredPipelineSpec } from './pipelines.js';
import { atAndId, decodeCursor, fromMicros, micros, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import { iso, num, str, type Row } from './rows.js';

/** Statuses a run can be cancelled in: it has not started running. */
export const CANCELLABLE_STATUSES: readonly RunStatus[] = ['awaiting_approval', 'queued', 'planning'];

/** The `run_chunks` row that marks a run's commit as dispatched (staged chunks are 0..chunks-1). */
const COMMIT_MARKER = COMMIT_CHUNK;

/**
 * What a run executes, fixed once by the orchestrator from the run's snapshot: every chunk, the commit and the
 * abort use it; nothing is read from the pipeline again.
 */
export interface RunPlan {
  chunks: number;
  source: LoadTask['payload']['source'];
  target: CommitTask['payload']['target'];
  transform: LoadTask['payload']['transform'];
  limits: TaskLimits;
  /** The transform's output columns, when declared or planned (the target is provisioned from them). */
  output?: OutputColumn[];
  /** An incremental run: its watermark column, stream and whether it is a full refresh. */
  incremental?: TaskIncremental;
  /** Quality checks the commit evaluates on the staged rows. */
  checks?: QualityCheck[];
  /** Rows staged by the pipeline's last successful run before this one was planned (null: none). */
  baselineRows?: number | null;
}

/** How a run was asked for. */
export interface RunOptions {
  /** An incremental pipeline's run that reads every source row (the stored watermark still moves on commit). */
  fullRefresh?: boolean;
}

/**
 * Which planner made the code a run executes (set when the run is planned): `code` for hand-written Python, `rules`
 * (the offline planner), `llm` (the model planner, with its provenance) or `artifact` (the version's stored artifact),
 * and every fallback on the way with its reason. Opaque to the store.
 */
export interface RunPlanning {
  planner: 'code' | 'rules' | 'llm' | 'artifact';
  requested: 'code' | 'rules' | 'llm';
  artifactSha256: string;
  fallbacks: { from: string; to: string; code: string; reason: string }[];
  cached?: boolean;
  provenance?: { [key: string]: unknown };
}

export interface RunRecord {
  id: string;
  pipelineId: string;
  tenant: string;
  status: RunStatus;
  approvalRequired: boolean;
  submittedBy: string;
  cancelledBy: string | null;
  requestId: string;
  /** The pipeline version the run was submitted for (null only for runs older than snapshots). */
  pipelineVersion: number | null;
  /** That version's spec, as it was at submit: what the run executes, whatever happens to the pipeline since. */
  snapshot: StoredPipelineSpec | null;
  /** SHA-256 of that version's artifact (its transform code). */
  artifactSha256: string | null;
  /** Set when the run is planned. */
  plan: RunPlan | null;
  options: RunOptions;
  /** An incremental run's window, as its first staged chunk reported it. */
  watermark: WatermarkWindow | null;
  /** The quality checks' results of a succeeded run (a failed gate's are in `error.checks`). */
  checks: CheckResult[] | null;
  /** Set when the run is planned (also when planning failed it). */
  planning: RunPlanning | null;
  chunks: number;
  /** Chunks whose load task was sent (0 … chunksDispatched-1): fair dispatch sends them as the tenant's cap allows. */
  chunksDispatched: number;
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

/** Fields a transition may set besides the status (absent: unchanged). The snapshot is never changed. */
export interface RunPatch {
  chunks?: number;
  chunksDispatched?: number;
  plan?: RunPlan;
  planning?: RunPlanning;
  rowsIn?: number;
  rowsOut?: number;
  bytesOut?: number;
  error?: FailureReason;
  checks?: CheckResult[];
}

export interface ChunkCounts {
  rowsIn: number;
  rowsOut: number;
  bytesOut: number;
  /** Sandbox CPU time of the chunk, when reported. */
  cpuMs?: number;
}

/** Where a run stands after a chunk was recorded. */
export interface ChunkProgress {
  staged: number;
  of: number;
  /** Every chunk is staged: the run is ready for its commit. */
  complete: boolean;
  /** Sandbox CPU time of the run's staged chunks so far (the run's CPU budget). */
  cpuMs: number;
}

export function toRun(r: Row): RunRecord {
  return {
    id: r.id as string,
    pipelineId: r.pipeline_id as string,
    tenant: r.tenant as string,
    status: r.status as RunStatus,
    approvalRequired: r.approval_required === true,
    submittedBy: r.submitted_by as string,
    cancelledBy: str(r.cancelled_by),
    requestId: r.request_id as string,
    pipelineVersion: num(r.pipeline_version),
    snapshot: (r.snapshot as StoredPipelineSpec | null) ?? null,
    artifactSha256: str(r.artifact_sha256),
    plan: (r.plan as RunPlan | null) ?? null,
    options: (r.options as RunOptions | null) ?? {},
    watermark: (r.watermark as WatermarkWindow | null) ?? null,
    checks: (r.checks as CheckResult[] | null) ?? null,
    planning: (r.planning as RunPlanning | null) ?? null,
    chunks: Number(r.chunks ?? 1),
    chunksDispatched: Number(r.chunks_dispatched ?? 0),
    rowsIn: num(r.rows_in),
    rowsOut: num(r.rows_out),
    bytesOut: num(r.bytes_out),
    error: storedFailure(r.error),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}

/**
 * A recorded failure reason as the API may answer it. Runs that failed before the closed set of failure codes
 * existed carry codes outside it; they read as `internal` with the old code named in the message, instead of
 * making every page that lists them fail response validation.
 */
export function storedFailure(value: unknown): FailureReason | null {
  if (value === null || value === undefined) return null;
  const reason = value as Partial<FailureReason> & { code?: unknown; message?: unknown };
  const message = typeof reason.message === 'string' ? reason.message : '';
  if (typeof reason.code === 'string' && Object.hasOwn(FAILURE_CODES, reason.code)) return { ...reason, message } as FailureReason;
  const legacy = typeof reason.code === 'string' ? reason.code : 'none';
  return { code: 'internal', message: `(recorded with code '${legacy}', outside today's set) ${message}`.slice(0, 4000) };
}

/** The tenant's run, locked for the rest of the transaction. */
export async function lockRun(c: pg.PoolClient, tenant: string, runId: string): Promise<RunRecord> {
  const { rows } = await c.query('SELECT * FROM runs WHERE tenant = $1 AND id = $2 FOR UPDATE', [tenant, runId]);
  if (!rows[0]) throw new NotFoundError('run not found');
  return toRun(rows[0] as Row);
}

/** The message that asks the orchestrator to plan and start a run. */
export function runRequested(runId: string, tenant: string, ctx: MessageContext): OutboxMessage {
  return { stream: STREAMS.requests, message: envelope('run.requested', { runId, tenant }, ctx) };
}

/**
 * Runs and their history (steps, staged chunks). Reads for the API take the tenant (another tenant's run is never
 * found); the orchestrator's writes act on any tenant's run by id. Every status change records a step and writes
 * its messages to the outbox in the same transaction.
 */
export class Runs {
  constructor(
    private readonly pool: pg.Pool,
    private readonly outbox: Outbox,
  ) {}

  /**
   * Creates a run of the tenant's live pipeline (NotFoundError otherwise) as a snapshot of its version
   * `pipelineVersion`, the one the caller decided on (ConflictError, field `version`, when the pipeline has changed
   * since): the run records that version, its spec, its artifact and its chunk count (the orchestrator's default
   * when the spec names none is set at planning), and executes them whatever happens to the pipeline later. With
   * `approvalRequired` it waits in `awaiting_approval` and no message is sent; otherwise it is `queued` and its
   * `run.requested` message goes to the outbox in the same transaction. The same idempotency key for the same
   * pipeline returns the first run (`created: false`).
   */
  async create(input: {
    tenant: string;
    pipelineId: string;
    pipelineVersion: number;
    submittedBy: string;
    idempotencyKey?: string | undefined;
    approvalRequired: boolean;
    options?: RunOptions;
    ctx: MessageContext;
  }): Promise<{ run: RunRecord; created: boolean }> {
    const status: RunStatus = input.approvalRequired ? 'awaiting_approval' : 'queued';
    const runId = randomUUID();
    try {
      return await inTransaction(this.pool, async (c) => {
        const { rows } = await c.query(
          `INSERT INTO runs (id, pipeline_id, tenant, status, submitted_by, idempotency_key, request_id, approval_required,
                             pipeline_version, snapshot, artifact_sha256, chunks, options)
           SELECT $1::uuid, p.id, p.tenant, $4::text, $5::text, $6::text, $7::text, $8::boolean, v.version, v.spec, v.artifact_sha256,
                  COALESCE((v.spec->>'chunks')::integer, 1), $10::jsonb
           FROM pipelines p JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.version
           WHERE p.tenant = $3 AND p.id = $2 AND p.deleted_at IS NULL AND p.version = $9
           RETURNING *`,
          [runId, input.pipelineId, input.tenant, status, input.submittedBy, input.idempotencyKey ?? null,
            input.ctx.requestId, input.approvalRequired, input.pipelineVersion, JSON.stringify(input.options ?? {})],
        );
        if (!rows[0]) {
          const live = await c.query('SELECT 1 FROM pipelines WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL', [
            input.tenant,
            input.pipelineId,
          ]);
          if (!live.rows[0]) throw new NotFoundError('pipeline not found');
          const message = `the pipeline changed since version ${input.pipelineVersion} was read; submit again`;
          throw new ConflictError(message, { details: [{ field: 'version', message }] });
        }
        await c.query('INSERT INTO run_steps (run_id, status, detail) VALUES ($1, $2, $3)', [
          runId,
          status,
          JSON.stringify({ pipelineVersion: input.pipelineVersion, artifactSha256: (rows[0] as Row).artifact_sha256 }),
        ]);
        if (!input.approvalRequired) await this.outbox.add(c, [runRequested(runId, input.tenant, input.ctx)]);
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

  /** The tenant's run. */
  async get(tenant: string, id: string): Promise<RunRecord> {
    const { rows } = await this.pool.query('SELECT * FROM runs WHERE tenant = $1 AND id = $2', [tenant, id]);
    if (!rows[0]) throw new NotFoundError('run not found');
    return toRun(rows[0] as Row);
  }

  /** Any tenant's run, for the orchestrator, which acts for every tenant. */
  async getById(id: string): Promise<RunRecord> {
    const { rows } = await this.pool.query('SELECT * FROM runs WHERE id = $1', [id]);
    if (!rows[0]) throw new NotFoundError('run not found');
    return toRun(rows[0] as Row);
  }

  /** The tenant's runs, newest first. */
  async list(
    tenant: string,
    filter: { pipelineId?: string | undefined; status?: RunStatus | undefined },
    page: PageRequest,
  ): Promise<Page<RunRecord>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'uuid']);
    const { rows } = await this.pool.query(
      `SELECT *, ${micros('created_at')} AS cursor_at FROM runs
       WHERE tenant = $1 AND ($2::uuid IS NULL OR pipeline_id = $2) AND ($3::text IS NULL OR status = $3)
         AND ($4::text IS NULL OR (created_at, id) < (${fromMicros('$4')}, $5::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $6`,
      [tenant, filter.pipelineId ?? null, filter.status ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toRun, atAndId);
  }

  /** Every step of the tenant's run, in order. */
  async steps(tenant: string, runId: string): Promise<RunStepRecord[]> {
    const page = await this.stepsAfter(tenant, runId, 0, 10_000);
    if (!page) throw new NotFoundError('run not found');
    return page.steps;
  }

  /** How many of the tenant's runs are queued and how many are in flight (planning, running); runs awaiting an approval hold nothing. */
  async activeCounts(tenant: string): Promise<{ queued: number; inFlight: number }> {
    const { rows } = await this.pool.query(
      `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued,
              count(*) FILTER (WHERE status IN ('planning', 'running'))::int AS in_flight
       FROM runs WHERE tenant = $1 AND status IN ('queued', 'planning', 'running')`,
      [tenant],
    );
    const row = rows[0] as { queued: number; in_flight: number };
    return { queued: row.queued, inFlight: row.in_flight };
  }

  /**
   * The run's status and its steps after step id `afterId`, in order; null when the run is not the tenant's.
   * One statement, so a final status is never seen before the step that recorded it.
   */
  async stepsAfter(
    tenant: string,
    runId: string,
    afterId: number,
    limit = 100,
  ): Promise<{ status: RunStatus; steps: RunStepRecord[] } | null> {
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
    return { status: (rows[0] as Row).run_status as RunStatus, steps };
  }

  /**
   * Cancels a run that has not started running (ConflictError otherwise). The orchestrator's transitions only
   * move runs out of the statuses they expect, so a cancelled run is never planned or started. Who may cancel
   * is the caller's decision.
   */
  async cancel(tenant: string, runId: string, by: string): Promise<RunRecord> {
    return inTransaction(this.pool, async (c) => {
      const run = await lockRun(c, tenant, runId);
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

  /**
   * Moves a run from one of `from` to `to`, with its messages, atomically. Returns null when the run is not in
   * one of `from` (a redelivered message finds the work already done: a no-op).
   */
  async transition(
    runId: string,
    from: readonly RunStatus[],
    to: RunStatus,
    patch: RunPatch = {},
    messages: readonly OutboxMessage[] = [],
  ): Promise<RunRecord | null> {
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query(
        `UPDATE runs SET status = $3, updated_at = now(),
           started_at = CASE WHEN $3 = 'running' THEN now() ELSE started_at END,
           finished_at = CASE WHEN $3 IN ('succeeded', 'failed') THEN now() ELSE finished_at END,
           rows_in = COALESCE($4, rows_in), rows_out = COALESCE($5, rows_out), bytes_out = COALESCE($6, bytes_out),
           plan = COALESCE($7, plan), error = COALESCE($8, error), chunks = COALESCE($9, chunks), checks = COALESCE($10, checks),
           planning = COALESCE($11, planning), chunks_dispatched = COALESCE($12, chunks_dispatched)
         WHERE id = $1 AND status = ANY($2::text[]) RETURNING *`,
        [runId, from, to, patch.rowsIn ?? null, patch.rowsOut ?? null, patch.bytesOut ?? null,
          patch.plan ? JSON.stringify(patch.plan) : null, patch.error ? JSON.stringify(patch.error) : null, patch.chunks ?? null,
          patch.checks ? JSON.stringify(patch.checks) : null, patch.planning ? JSON.stringify(patch.planning) : null,
          patch.chunksDispatched ?? null],
      );
      if (rows.length === 0) return null;
      await c.query('INSERT INTO run_steps (run_id, status, detail) VALUES ($1, $2, $3)', [
        runId, to, patch.error ? JSON.stringify({ error: patch.error }) : null,
      ]);
      await this.outbox.add(c, messages);
      return toRun(rows[0] as Row);
    });
  }

  /**
   * Records that a chunk is staged (a redelivered result changes nothing) and says how far the run is. The first
   * chunk reporting an incremental run's watermark window records it on the run (every chunk reads the same one).
   */
  async recordChunk(runId: string, chunk: number, counts: ChunkCounts, watermark?: WatermarkWindow): Promise<ChunkProgress> {
    return inTransaction(this.pool, async (c) => {
      await c.query(
        `INSERT INTO run_chunks (run_id, chunk, rows_in, rows_out, bytes_out, cpu_ms, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT DO NOTHING`,
        [runId, chunk, counts.rowsIn, counts.rowsOut, counts.bytesOut, counts.cpuMs ?? null],
      );
      await c.query('UPDATE runs SET updated_at = now(), watermark = COALESCE(watermark, $2::jsonb) WHERE id = $1', [
        runId,
        watermark ? JSON.stringify(watermark) : null,
      ]);
      const { rows } = await c.query(
        `SELECT r.chunks, count(c.chunk) FILTER (WHERE c.chunk >= 0) AS staged, coalesce(sum(c.cpu_ms), 0) AS cpu_ms
         FROM runs r LEFT JOIN run_chunks c ON c.run_id = r.id WHERE r.id = $1 GROUP BY r.chunks`,
        [runId],
      );
      const r = rows[0] as Row | undefined;
      if (!r) throw new NotFoundError('run not found');
      const of = Number(r.chunks);
      const staged = Number(r.staged);
      return { staged, of, complete: staged === of, cpuMs: Number(r.cpu_ms) };
    });
  }

  /**
   * Marks the run's commit as dispatched and writes its messages to the outbox, in one transaction, the first
   * time only: true when this call dispatched it, false when it already was (a redelivered result).
   */
  async dispatchCommit(runId: string, messages: readonly OutboxMessage[]): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      const ins = await c.query('INSERT INTO run_chunks (run_id, chunk) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
        runId,
        COMMIT_MARKER,
      ]);
      if (ins.rowCount !== 1) return false;
      await this.outbox.add(c, messages);
      return true;
    });
  }

  /**
   * Fair dispatch (one tenant's queue cannot starve another's): claims the chunks the tenant's running runs may
   * send now, oldest run first, so that at most `cap` of the tenant's chunk tasks are in flight (sent, not yet
   * staged). Serialised per tenant (advisory lock). The caller sends the claimed chunks' tasks (`sendTasks`); a
   * crash in between leaves them claimed and unstaged, which the reconciler sends again.
   */
  async claimChunks(tenant: string, cap: number): Promise<Array<{ run: RunRecord; chunks: number[] }>> {
    return inTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`aoetl.dispatch/${tenant}`]);
      const { rows: load } = await c.query(
        `SELECT coalesce(sum(r.chunks_dispatched - (SELECT count(*) FROM run_chunks k WHERE k.run_id = r.id AND k.chunk >= 0)), 0)::int AS n
         FROM runs r WHERE r.tenant = $1 AND r.status = 'running'`,
        [tenant],
      );
      let free = cap - Number((load[0] as { n: number }).n);
      const claimed: Array<{ run: RunRecord; chunks: number[] }> = [];
      if (free <= 0) return claimed;
      const { rows } = await c.query(
        `SELECT * FROM runs WHERE tenant = $1 AND status = 'running' AND chunks_dispatched < chunks
         ORDER BY created_at, id LIMIT $2 FOR UPDATE`,
        [tenant, free],
      );
      for (const row of rows as Row[]) {
        if (free <= 0) break;
        const run = toRun(row);
        const n = Math.min(free, run.chunks - run.chunksDispatched);
        const chunks = Array.from({ length: n }, (_, i) => run.chunksDispatched + i);
        await c.query('UPDATE runs SET chunks_dispatched = $2, updated_at = now() WHERE id = $1', [run.id, run.chunksDispatched + n]);
        claimed.push({ run: { ...run, chunksDispatched: run.chunksDispatched + n }, chunks });
        free -= n;
      }
      return claimed;
    });
  }

  /** Tenants with running runs whose chunks are not all dispatched yet (fair dispatch's reconciler). */
  async tenantsAwaitingDispatch(limit = 1000): Promise<string[]> {
    const { rows } = await this.pool.query(
      `SELECT DISTINCT tenant FROM runs WHERE status = 'running' AND chunks_dispatched < chunks LIMIT $1`,
      [limit],
    );
    return rows.map((r: { tenant: string }) => r.tenant);
  }

  /** Writes a run's task messages to the outbox (the chunks `claimChunks` gave it). */
  async sendTasks(messages: readonly OutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await inTransaction(this.pool, (c) => this.outbox.add(c, messages));
  }

  /** Row and byte totals over a run's staged chunks. */
  async chunkTotals(runId: string): Promise<ChunkCounts> {
    const { rows } = await this.pool.query(
      `SELECT coalesce(sum(rows_in), 0) AS rows_in, coalesce(sum(rows_out), 0) AS rows_out, coalesce(sum(bytes_out), 0) AS bytes_out
       FROM run_chunks WHERE run_id = $1 AND chunk >= 0`,
      [runId],
    );
    const r = rows[0] as Record<string, string>;
    return { rowsIn: Number(r.rows_in), rowsOut: Number(r.rows_out), bytesOut: Number(r.bytes_out) };
  }

  /**
   * Rows staged by the last run of the pipeline that succeeded before `before` was created (null when none did):
   * the baseline of a `row_count_change` check.
   */
  async lastSucceededRows(pipelineId: string, before: string): Promise<number | null> {
    const { rows } = await this.pool.query(
      `SELECT (SELECT coalesce(sum(c.rows_out), 0) FROM run_chunks c WHERE c.run_id = r.id AND c.chunk >= 0) AS n
       FROM runs r WHERE r.pipeline_id = $1 AND r.status = 'succeeded' AND r.created_at < $2::timestamptz
       ORDER BY r.finished_at DESC NULLS LAST, r.created_at DESC LIMIT 1`,
      [pipelineId, before],
    );
    return rows[0] ? Number((rows[0] as { n: string }).n) : null;
  }

  /** Chunks of a run that are staged. */
  async stagedChunks(runId: string): Promise<number[]> {
    const { rows } = await this.pool.query('SELECT chunk FROM run_chunks WHERE run_id = $1 AND chunk >= 0', [runId]);
    return rows.map((r: { chunk: number }) => Number(r.chunk));
  }

  /** Runs not finished whose last change is older than `idleMs`: what a restarted orchestrator must resume. */
  async inFlight(idleMs: number, limit = 100): Promise<RunRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM runs WHERE status IN ('queued', 'planning', 'running')
       AND updated_at < now() - make_interval(secs => $1::double precision / 1000) ORDER BY updated_at LIMIT $2`,
      [idleMs, limit],
    );
    return (rows as Row[]).map(toRun);
  }
}
