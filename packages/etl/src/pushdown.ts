import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { LoadTask } from '@aoetl/contracts';
import { describeRefusal, guardQuery } from '@aoetl/sqlguard';
import { LEDGER, LoadFailure, RowCounter, Session, claim, finished, loadChunk, targetColumns, type LoadDeps, type LoadResult } from './load.js';
import { quoteIdent, quoteQualified, stagingTable } from './sql.js';

/** lock_timeout of a pushed-down query: it waits at most this long for a lock (never longer than its statement_timeout). */
export const SQL_LOCK_TIMEOUT_MS = 5_000;

/**
 * The source transaction a pushed-down query runs in: read only (the second layer behind the static guard and the
 * SELECT-only role), one snapshot, a statement and a lock timeout, and a search_path of the catalog alone so an
 * unqualified name can only mean a built-in. The first SELECT fixes the snapshot: from then on the transaction
 * cannot be switched to read-write.
 */
export async function beginPushdown(src: pg.Client, timeoutMs: number): Promise<void> {
  await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  await src.query(`SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}`);
  await src.query(`SET LOCAL lock_timeout = ${Math.floor(Math.min(timeoutMs, SQL_LOCK_TIMEOUT_MS))}`);
  await src.query('SET LOCAL search_path = pg_catalog, pg_temp');
  await src.query('SELECT 1');
}

/** `COPY (<query>) TO STDOUT`: the query on its own lines, so a trailing `--` comment cannot swallow the parenthesis. */
export const copyOutOf = (statement: string) => `COPY (\n${statement}\n) TO STDOUT`;

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A query the database cancelled for its statement_timeout (or lock_timeout: 55P03). */
const timedOut = (err: unknown) => ['57014', '55P03'].includes((err as { code?: string } | null)?.code ?? '');

/**
 * The load step of a task, whichever its transform: a sql transform is pushed down (`loadSqlChunk`), Python goes
 * through the sandbox (`loadChunk`).
 */
export function loadTaskChunk(task: LoadTask['payload'], deps: LoadDeps): Promise<LoadResult> {
  return task.transform.language === 'sql' ? loadSqlChunk(task, deps) : loadChunk(task, deps);
}

/**
 * A sql transform: the query, checked again by the guard (the task's code must hash to its artifact), runs as
 * `COPY (<query>) TO STDOUT` in the source's read-only transaction under the dynamic SELECT-only credential and
 * streams straight into `COPY … FROM STDIN` of the run's staging table, with the chunk's ledger row in the same
 * target transaction (ADR 0002): a repeated chunk does nothing, a failure or a timeout stages nothing.
 */
export async function loadSqlChunk(task: LoadTask['payload'], deps: LoadDeps): Promise<LoadResult> {
  const started = Date.now();
  const t = task.transform;
  if (t.language !== 'sql') throw new LoadFailure({ code: 'input', message: 'not a sql transform' });
  if (sha256Hex(t.code) !== t.sha256) throw new LoadFailure({ code: 'snapshot_mismatch', message: "the task's query does not hash to its artifact" });
  const checked = await guardQuery(t.code, { sourceTable: task.source.table, allowedSchemas: t.allowedSchemas });
  if (!checked.ok) {
    throw new LoadFailure({ code: 'input', message: `the sql transform is refused: ${checked.refusals.map(describeRefusal).join('; ')}` });
  }
  const ctx = { runId: task.runId, taskId: task.taskId };
  const log = deps.logger.child({ ...ctx, chunk: task.chunk.index, transform: 'sql' });
  const session = new Session(deps, ctx);
  try {
    const tgt = await session.connect(task.target.connection, 'aoetl-etl-target');
    await tgt.query('BEGIN');
    if (!(await claim(tgt, task.runId, task.chunk.index)) || (await finished(tgt, task.runId)) !== null) {
      await tgt.query('ROLLBACK');
      const { rows } = await tgt.query<{ rows_out: string; bytes_out: string }>(
        `SELECT coalesce(rows_out, 0) AS rows_out, coalesce(bytes_out, 0) AS bytes_out FROM ${LEDGER} WHERE run_id = $1 AND chunk = $2`,
        [task.runId, task.chunk.index],
      );
      log.info('chunk already staged; nothing to do');
      const r = rows[0];
      return { rowsIn: Number(r?.rows_out ?? 0), rowsOut: Number(r?.rows_out ?? 0), bytesIn: 0, bytesOut: Number(r?.bytes_out ?? 0), durationMs: Date.now() - started };
    }

    const src = await session.connect(task.source.connection, 'aoetl-etl-source');
    await beginPushdown(src, task.limits.timeoutMs);
    const target = await targetColumns(tgt, task.target.table);
    let output: string[];
    try {
      output = (await src.query(`SELECT * FROM (\n${checked.statement}\n) AS q LIMIT 0`)).fields.map((f) => f.name);
    } catch (err) {
      throw failure(err, task.limits.timeoutMs, 'the sql transform failed');
    }
    const unknown = output.filter((c) => !target.all.includes(c));
    if (unknown.length > 0 || new Set(output).size !== output.length) {
      throw new LoadFailure({
        code: 'input',
        message: `the query's columns must be distinct columns of ${task.target.table}; not: ${unknown.join(', ') || 'duplicates'}`,
      });
    }
    const missingKeys = task.target.keys.filter((k) => !output.includes(k));
    if (missingKeys.length) throw new LoadFailure({ code: 'input', message: `the query does not produce the merge keys: ${missingKeys.join(', ')}` });

    const staging = stagingTable(task.runId, task.chunk.index);
    await tgt.query(`CREATE TABLE ${staging} (LIKE ${quoteQualified(task.target.table)} INCLUDING DEFAULTS)`);
    const counter = new RowCounter();
    try {
      await pipeline(
        src.query(copyTo(copyOutOf(checked.statement))),
        counter,
        tgt.query(copyFrom(`COPY ${staging} (${output.map(quoteIdent).join(', ')}) FROM STDIN`)),
      );
    } catch (err) {
      throw failure(err, task.limits.timeoutMs, 'loading the sql transform failed');
    }

    if ((await finished(tgt, task.runId)) !== null) {
      await tgt.query('ROLLBACK');
      log.info('run finished while the chunk ran; staged rows discarded');
      return { rowsIn: counter.rows, rowsOut: 0, bytesIn: counter.bytes, bytesOut: 0, durationMs: Date.now() - started };
    }
    await tgt.query(`UPDATE ${LEDGER} SET rows_in = $3, rows_out = $3, bytes_out = $4, at = now() WHERE run_id = $1 AND chunk = $2`, [
      task.runId, task.chunk.index, counter.rows, counter.bytes,
    ]);
    await tgt.query('COMMIT');
    await src.query('COMMIT');
    const result = { rowsIn: counter.rows, rowsOut: counter.rows, bytesIn: counter.bytes, bytesOut: counter.bytes, durationMs: Date.now() - started };
    log.info(result, 'chunk staged (sql pushed down)');
    return result;
  } finally {
    await session.close(log);
  }
}

/** A timeout or a data error of the query is the run's failure (not retried); anything else keeps its own type. */
function failure(err: unknown, timeoutMs: number, what: string): unknown {
  if (timedOut(err)) {
    return new LoadFailure({ code: 'load', message: `${what}: it ran longer than its statement timeout (${timeoutMs} ms) or waited too long for a lock` });
  }
  const code = (err as { code?: string } | null)?.code ?? '';
  // 22 data exception, 23 integrity, 42 syntax or access (a SELECT-only role, a read-only transaction: 25006).
  if (/^(22|23|42|25)/.test(code)) return new LoadFailure({ code: 'load', message: `${what}: ${(err as Error).message}` });
  return err;
}
