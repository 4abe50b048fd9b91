import type pg from 'pg';
import { failureView, type Failure } from '@aoetl/pii';

/** Whose runs a person sees: one tenant, or every tenant (`null`, the platform's SREs). */
export type TenantScope = string | null;

export interface RunRow {
  id: string;
  tenant: string;
  pipeline: string;
  status: string;
  chunks: number;
  rowsOut: number | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  durationSeconds: number | null;
  /** The failure as a reader sees it (values replaced by type and length, no traceback). */
  error: Failure | null;
}

export interface RunDetail extends RunRow {
  pipelineId: string;
  pipelineVersion: number | null;
  submittedBy: string;
  rowsIn: number | null;
  bytesOut: number | null;
  steps: { id: number; status: string; at: string; detail: unknown }[];
  chunkRows: { chunk: number; rowsIn: number | null; rowsOut: number | null; bytesOut: number | null; finishedAt: string | null }[];
  artifact: { sha256: string; version: number; language: string; createdAt: string } | null;
  provenance: { planner: string; plannerVersion: string; instructionSha256: string; sampleSha256: string | null; requestedBy: string; createdAt: string } | null;
}

export interface Overview {
  windowMinutes: number;
  bucketSeconds: number;
  /** Runs in each status now (within the scope). */
  totals: Record<string, number>;
  /** Per bucket start (unix seconds): runs submitted, succeeded, failed; rows loaded per second. */
  series: { t: number; submitted: number; succeeded: number; failed: number; rowsPerSecond: number }[];
  /** Failed / (succeeded + failed) over the window; null without finished runs. */
  errorRate: number | null;
  p50Seconds: number | null;
  p95Seconds: number | null;
}

export interface RunFilter {
  status?: string;
  /** Only for the all-tenants scope: narrow to one tenant. */
  tenant?: string;
  /** A pipeline name fragment or the start of a run id. */
  q?: string;
  limit?: number;
}

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (v == null ? null : Number(v));
const isFailure = (v: unknown): v is Failure =>
  typeof v === 'object' && v !== null && typeof (v as Failure).code === 'string' && typeof (v as Failure).message === 'string';

/** A step's detail with its failure (if any) scrubbed like the run's. */
function stepDetail(detail: unknown): unknown {
  if (typeof detail !== 'object' || detail === null || !('error' in detail)) return detail;
  const { error, ...rest } = detail;
  return { ...rest, error: isFailure(error) ? failureView(error, 'reader') : null };
}

function toRunRow(r: Record<string, unknown>): RunRow {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    pipeline: (r.pipeline as string | null) ?? '',
    status: r.status as string,
    chunks: Number(r.chunks ?? 1),
    rowsOut: num(r.rows_out),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    finishedAt: iso(r.finished_at),
    durationSeconds: num(r.duration_seconds),
    error: isFailure(r.error) ? failureView(r.error, 'reader') : null,
  };
}

type Bucket = Overview['series'][number];

/** Every bucket of the window, oldest first, with zeros where nothing happened (charts draw no false slopes). */
export function fillBuckets(rows: Bucket[], windowMinutes: number, bucketSeconds: number, now = Date.now()): Bucket[] {
  const byT = new Map(rows.map((r) => [r.t, r]));
  const last = Math.floor(now / 1000 / bucketSeconds) * bucketSeconds;
  const first = last - Math.ceil((windowMinutes * 60) / bucketSeconds) * bucketSeconds;
  const out: Bucket[] = [];
  for (let t = first; t <= last; t += bucketSeconds) out.push(byT.get(t) ?? { t, submitted: 0, succeeded: 0, failed: 0, rowsPerSecond: 0 });
  return out;
}

const RUN_COLUMNS = `r.id, r.tenant, p.name AS pipeline, r.status, r.chunks, r.rows_out, r.created_at, r.updated_at, r.finished_at, r.error,
  EXTRACT(EPOCH FROM (r.finished_at - r.created_at))::float8 AS duration_seconds`;

/**
 * What the dashboard shows from the control database, read through the monitor's read-only role: runs, their
 * steps, chunks, artifact and provenance, and aggregates over them. Every query takes the person's scope, so a
 * tenant's user never receives another tenant's row. Failures are always scrubbed as for readers.
 */
export class DashboardReads {
  constructor(private readonly pool: pg.Pool) {}

  async runs(scope: TenantScope, filter: RunFilter = {}): Promise<RunRow[]> {
    const { rows } = await this.pool.query(
      `SELECT ${RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id
        WHERE ($1::text IS NULL OR r.tenant = $1) AND ($2::text IS NULL OR r.status = $2) AND ($3::text IS NULL OR r.tenant = $3)
          AND ($4::text IS NULL OR strpos(lower(p.name), lower($4)) > 0 OR r.id::text LIKE lower($4) || '%')
        ORDER BY r.created_at DESC, r.id DESC LIMIT $5`,
      [scope, filter.status || null, scope === null ? filter.tenant || null : null, filter.q || null, Math.min(filter.limit ?? 50, 200)],
    );
    return rows.map(toRunRow);
  }

  /** Runs changed after `since` (all tenants: the live feed filters per subscriber), oldest change first. */
  async changedSince(since: Date, limit = 500): Promise<RunRow[]> {
    const { rows } = await this.pool.query(
      `SELECT ${RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id
        WHERE r.updated_at > $1 ORDER BY r.updated_at, r.id LIMIT $2`,
      [since, limit],
    );
    return rows.map(toRunRow);
  }

  async run(scope: TenantScope, id: string): Promise<RunDetail | null> {
    const { rows } = await this.pool.query(
      `SELECT ${RUN_COLUMNS}, r.pipeline_id, r.pipeline_version, r.submitted_by, r.rows_in, r.bytes_out, r.artifact_sha256
         FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE r.id = $1 AND ($2::text IS NULL OR r.tenant = $2)`,
      [id, scope],
    );
    const r = rows[0] as Record<string, unknown> | undefined;
    if (!r) return null;
    const [steps, chunks, artifact, provenance] = await Promise.all([
      this.pool.query('SELECT id, status, at, detail FROM run_steps WHERE run_id = $1 ORDER BY id LIMIT 1000', [id]),
      this.pool.query('SELECT chunk, rows_in, rows_out, bytes_out, finished_at FROM run_chunks WHERE run_id = $1 ORDER BY chunk', [id]),
      this.pool.query('SELECT sha256, version, language, created_at FROM artifacts WHERE pipeline_id = $1 AND sha256 = $2', [r.pipeline_id, r.artifact_sha256]),
      this.pool.query(
        'SELECT planner, planner_version, instruction_sha256, sample_sha256, requested_by, created_at FROM artifact_provenance WHERE pipeline_id = $1 AND artifact_sha256 = $2',
        [r.pipeline_id, r.artifact_sha256],
      ),
    ]);
    const a = artifact.rows[0] as Record<string, unknown> | undefined;
    const p = provenance.rows[0] as Record<string, unknown> | undefined;
    return {
      ...toRunRow(r),
      pipelineId: r.pipeline_id as string,
      pipelineVersion: num(r.pipeline_version),
      submittedBy: r.submitted_by as string,
      rowsIn: num(r.rows_in),
      bytesOut: num(r.bytes_out),
      steps: (steps.rows as Record<string, unknown>[]).map((s) => ({ id: Number(s.id), status: s.status as string, at: iso(s.at)!, detail: stepDetail(s.detail) })),
      chunkRows: (chunks.rows as Record<string, unknown>[]).map((c) => ({
        chunk: Number(c.chunk),
        rowsIn: num(c.rows_in),
        rowsOut: num(c.rows_out),
        bytesOut: num(c.bytes_out),
        finishedAt: iso(c.finished_at),
      })),
      artifact: a ? { sha256: a.sha256 as string, version: Number(a.version), language: a.language as string, createdAt: iso(a.created_at)! } : null,
      provenance: p
        ? {
            planner: p.planner as string,
            plannerVersion: p.planner_version as string,
            instructionSha256: p.instruction_sha256 as string,
            sampleSha256: (p.sample_sha256 as string | null) ?? null,
            requestedBy: p.requested_by as string,
            createdAt: iso(p.created_at)!,
          }
        : null,
    };
  }

  /** Runs by status, submissions and outcomes per bucket, rows/s, error rate and p50/p95 duration over the window. */
  async overview(scope: TenantScope, windowMinutes = 60): Promise<Overview> {
    const bucketSeconds = Math.max(60, Math.round((windowMinutes * 60) / 60));
    const [totals, series, stats] = await Promise.all([
      this.pool.query('SELECT status, count(*)::int AS n FROM runs WHERE ($1::text IS NULL OR tenant = $1) GROUP BY status ORDER BY status', [scope]),
      this.pool.query(
        `WITH w AS (SELECT now() - make_interval(mins => $2) AS since),
              events AS (
                SELECT created_at AS at, 'submitted' AS kind, 0::bigint AS rows FROM runs, w WHERE created_at > w.since AND ($1::text IS NULL OR tenant = $1)
                UNION ALL
                SELECT finished_at, status, coalesce(rows_out, 0) FROM runs, w
                 WHERE finished_at > w.since AND status IN ('succeeded', 'failed') AND ($1::text IS NULL OR tenant = $1))
         SELECT EXTRACT(EPOCH FROM date_bin(make_interval(secs => $3), at, TIMESTAMPTZ 'epoch'))::bigint AS t,
                count(*) FILTER (WHERE kind = 'submitted')::int AS submitted,
                count(*) FILTER (WHERE kind = 'succeeded')::int AS succeeded,
                count(*) FILTER (WHERE kind = 'failed')::int AS failed,
                coalesce(sum(rows) FILTER (WHERE kind = 'succeeded'), 0)::float8 AS rows
           FROM events GROUP BY 1 ORDER BY 1`,
        [scope, windowMinutes, bucketSeconds],
      ),
      this.pool.query(
        `SELECT count(*) FILTER (WHERE status = 'failed')::int AS failed, count(*)::int AS finished,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM finished_at - created_at)) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM finished_at - created_at)) AS p95
           FROM runs WHERE finished_at > now() - make_interval(mins => $2) AND status IN ('succeeded', 'failed') AND ($1::text IS NULL OR tenant = $1)`,
        [scope, windowMinutes],
      ),
    ]);
    const s = stats.rows[0] as { failed: number; finished: number; p50: number | null; p95: number | null };
    return {
      windowMinutes,
      bucketSeconds,
      totals: Object.fromEntries((totals.rows as { status: string; n: number }[]).map((r) => [r.status, r.n])),
      series: fillBuckets(
        (series.rows as Record<string, unknown>[]).map((r) => ({
          t: Number(r.t),
          submitted: Number(r.submitted),
          succeeded: Number(r.succeeded),
          failed: Number(r.failed),
          rowsPerSecond: Number(r.rows) / bucketSeconds,
        })),
        windowMinutes,
        bucketSeconds,
      ),
      errorRate: s.finished > 0 ? s.failed / s.finished : null,
      p50Seconds: num(s.p50),
      p95Seconds: num(s.p95),
    };
  }

  /** Runs that failed with a security-relevant sandbox result (`violation`), newest first. */
  async violations(scope: TenantScope, limit = 100): Promise<RunRow[]> {
    const { rows } = await this.pool.query(
      `SELECT ${RUN_COLUMNS} FROM runs r JOIN pipelines p ON p.id = r.pipeline_id
        WHERE (r.error->>'violation')::boolean IS TRUE AND ($1::text IS NULL OR r.tenant = $1)
        ORDER BY r.updated_at DESC LIMIT $2`,
      [scope, limit],
    );
    return rows.map(toRunRow);
  }

  /** Whether the control database records model usage (tokens, cost) at all: a `model_usage` relation. */
  async hasModelUsage(): Promise<boolean> {
    const { rows } = await this.pool.query(`SELECT to_regclass('model_usage') IS NOT NULL AS present`);
    return (rows[0] as { present: boolean }).present;
  }
}
