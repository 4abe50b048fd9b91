import type pg from 'pg';
import type { TaskIncremental, WatermarkWindow } from '@aoetl/contracts';
import { LoadFailure } from './failure.js';
import { quoteIdent, quoteQualified } from './sql.js';

/** Committed watermarks, one per stream (pipeline, source, column, target), in the target database. */
export const WATERMARKS = 'aoetl_staging.watermarks';
/** Each incremental run's window, fixed once by its first chunk. */
export const WINDOWS = 'aoetl_staging.watermark_windows';

/** Types a watermark column may have: they order monotonically and round-trip through text. */
const WATERMARK_TYPES = new Set(['int2', 'int4', 'int8', 'numeric', 'date', 'timestamp', 'timestamptz']);

/** The watermark column's type in the source (format_type spelling); `input` failure when it is missing or unfit. */
export async function watermarkType(src: pg.Client, table: string, column: string): Promise<string> {
  const { rows } = await src.query<{ typname: string; type: string }>(
    `SELECT t.typname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [quoteQualified(table), column],
  );
  const row = rows[0];
  if (!row) throw new LoadFailure({ code: 'input', message: `watermark column ${column} is not a column of ${table}` });
  if (!WATERMARK_TYPES.has(row.typname)) {
    throw new LoadFailure({ code: 'input', message: `watermark column ${column} is ${row.type}; expected an integer, numeric, date or timestamp column` });
  }
  return row.type;
}

interface WindowRow {
  from_value: string | null;
  to_value: string | null;
  full_refresh: boolean;
}

function windowOf(row: WindowRow, column: string): WatermarkWindow {
  return { column, from: row.from_value, to: row.to_value, fullRefresh: row.full_refresh };
}

/** The run's window, if one of its chunks fixed it. */
async function windowRow(tgt: pg.Client, runId: string): Promise<WindowRow | undefined> {
  const { rows } = await tgt.query<WindowRow>(`SELECT from_value, to_value, full_refresh FROM ${WINDOWS} WHERE run_id = $1`, [runId]);
  return rows[0];
}

/**
 * The run's extraction window, fixed the first time any of its chunks asks (autocommit statements, before the
 * chunk's own transactions): `from` is the stored watermark, `to` the source's highest value past it (or `from`
 * when there is none). Every chunk of the run reads the same window back; a chunk's snapshot is taken after it, so
 * every row at or below `to` is in it (watermark values become visible in order: the documented assumption).
 */
export async function fixWindow(
  src: pg.Client,
  tgt: pg.Client,
  runId: string,
  table: string,
  inc: TaskIncremental,
  type: string,
): Promise<WatermarkWindow> {
  const existing = await windowRow(tgt, runId);
  if (existing) return windowOf(existing, inc.column);
  const stored = await tgt.query<{ value: string | null }>(`SELECT value FROM ${WATERMARKS} WHERE stream = $1`, [inc.stream]);
  const from = stored.rows[0]?.value ?? null;
  const col = quoteIdent(inc.column);
  // With a full refresh the window starts from nothing; the stored value still guards the commit's swap.
  const lower = inc.fullRefresh ? null : from;
  const { rows } = await src.query<{ to: string | null }>(
    `SELECT max(${col})::text AS to FROM ${quoteQualified(table)} WHERE $1::text IS NULL OR ${col} > CAST($1::text AS ${type})`,
    [lower],
  );
  const to = rows[0]?.to ?? lower;
  await tgt.query(
    `INSERT INTO ${WINDOWS} (run_id, stream, from_value, to_value, full_refresh) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO NOTHING`,
    [runId, inc.stream, from, to, inc.fullRefresh],
  );
  const fixed = await windowRow(tgt, runId);
  if (!fixed) throw new LoadFailure({ code: 'internal', message: 'the watermark window was not recorded' });
  return windowOf(fixed, inc.column);
}

/**
 * The predicate selecting a window's rows (`t` is the source's alias). COPY takes no parameters, so the values are
 * literals quoted by `literal` (the driver's `escapeLiteral`) and cast to the column's type.
 */
export function windowPredicate(window: WatermarkWindow, type: string, literal: (value: string) => string): string {
  const col = `t.${quoteIdent(window.column)}`;
  if (window.to === null) return 'false';
  const lower = window.fullRefresh ? null : window.from;
  const upper = `${col} <= CAST(${literal(window.to)} AS ${type})`;
  return lower === null ? upper : `${col} > CAST(${literal(lower)} AS ${type}) AND ${upper}`;
}

/**
 * Moves the stream's watermark from the run's `from` to its `to`, in the caller's (the commit's) transaction; fails
 * with `watermark_conflict` when another run moved it since this run's window was fixed (nothing is committed).
 */
export async function advanceWatermark(tgt: pg.Client, runId: string, inc: TaskIncremental): Promise<WatermarkWindow> {
  const row = await windowRow(tgt, runId);
  if (!row) throw new LoadFailure({ code: 'internal', message: 'the incremental run has no watermark window in the target' });
  const window = windowOf(row, inc.column);
  const res = await tgt.query(
    `INSERT INTO ${WATERMARKS} AS w (stream, value, run_id) VALUES ($1, $2, $3)
     ON CONFLICT (stream) DO UPDATE SET value = EXCLUDED.value, run_id = EXCLUDED.run_id, at = now()
     WHERE w.value IS NOT DISTINCT FROM $4`,
    [inc.stream, window.to, runId, window.from],
  );
  if (res.rowCount !== 1) {
    throw new LoadFailure({
      code: 'watermark_conflict',
      message: `another run of the pipeline moved the watermark of ${inc.column} since this run started from ${window.from ?? 'none'}; nothing was committed, run it again`,
    });
  }
  return window;
}
