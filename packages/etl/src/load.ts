import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { ABORT_CHUNK, COMMIT_CHUNK, RESERVED_SCHEMA, UpstreamError, classifyError, endSpan, failSpan, startChildSpan, withSpan, type CheckResult, type CommitTask, type ConnectionDescriptor, type FailureReason, type LoadTask, type Span, type TaskLimits, type WatermarkWindow } from '@aoetl/contracts';
import type { CredentialContext, DatabaseCredential, SecretStore } from '@aoetl/secrets';
import { chunkPredicate, mergeStatement, quoteIdent, quoteQualified, stagingTable } from './sql.js';
import { CredentialLostError, LeaseKeeper } from './leases.js';
import { LoadFailure } from './failure.js';
import { provisionTarget, resolveOutput } from './provision.js';
import { evaluateChecks } from './quality.js';
import { advanceWatermark, fixWindow, watermarkType, windowPredicate } from './watermark.js';

export { LoadFailure };

/** What the loader needs from a sandbox: run `transform(rows)` over COPY text rows, streaming in and out. */
export interface TransformRunner {
  run(req: {
    runId: string;
    code: string;
    /** sha256 of `code`, as stored in the artifact. */
    codeSha256: string;
    columns: string[];
    types: string[];
    outputColumns: string[];
    input: Readable;
    output: Writable;
    limits: TaskLimits;
  }): Promise<TransformOutcome>;
}
/** `cpuMs`: the CPU time the transform used, when the sandbox reports it (the run's CPU budget counts it). */
export type TransformOutcome = { ok: true; cpuMs?: number } | { ok: false; reason: FailureReason };

export interface LoadDeps {
  secrets: SecretStore;
  runner: TransformRunner;
  logger: Logger;
  /** CA that signs the databases' server certificates. */
  dbCaFile: string;
}

export interface LoadResult {
  rowsIn: number;
  rowsOut: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  /** An incremental run's window. */
  watermark?: WatermarkWindow;
  /** The commit's quality check results. */
  checks?: CheckResult[];
  /** CPU time of the chunk's transform (the run's CPU budget), when the sandbox reported it. */
  cpuMs?: number;
}


/** The target database's record of what was staged and committed, keyed by run and chunk (COMMIT_CHUNK, ABORT_CHUNK). */
export const LEDGER = 'aoetl_staging.load_ledger';
const COMMITTED = COMMIT_CHUNK;
const ABORTED = ABORT_CHUNK;

/** Counts bytes and newline-terminated rows flowing through. */
export class RowCounter extends Transform {
  rows = 0;
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.rows += 1;
    done(null, chunk);
  }
}

/**
 * Credentials from Vault at the moment of use, a client per database, and the end of both whatever happens:
 * connections closed, leases revoked.
 */
export class Session {
  private readonly clients: pg.Client[] = [];
  private readonly leases: string[] = [];
  private readonly ca: Buffer;
  // Renews the leases while the task runs; a lost lease ends the connections, so the transactions roll back.
  private readonly keeper: LeaseKeeper;

  constructor(
    private readonly deps: LoadDeps,
    private readonly ctx: CredentialContext,
  ) {
    this.ca = readFileSync(deps.dbCaFile);
    this.keeper = new LeaseKeeper(deps.secrets, deps.logger, () => void Promise.allSettled(this.clients.map((c) => c.end())));
  }

  async connect(desc: ConnectionDescriptor, app: string): Promise<pg.Client> {
    const cred: DatabaseCredential = await this.deps.secrets.databaseCredential(desc.vaultRole, this.ctx);
    this.leases.push(cred.leaseId);
    this.keeper.keep(cred, desc.name, this.ctx);
    const client = new pg.Client({
      host: desc.host,
      port: desc.port,
      database: desc.database,
      user: cred.username,
      password: cred.password,
      application_name: app,
      ssl: { ca: this.ca, ...(isIP(desc.host) ? {} : { servername: desc.host }) },
      connectionTimeoutMillis: 10_000,
    });
    this.clients.push(client);
    try {
      await client.connect();
    } catch (err) {
      // A connection that could not be made is worth another attempt, unless Postgres said why not (SQLSTATE).
      // The run reports the connection's name only: the driver's message names hosts and ports and tells refused
      // from timed out (a port scanner through run errors); it stays in the cause, for the logs.
      const typed = classifyError(err);
      throw new UpstreamError(connectFailure(desc.name), { cause: err, retryable: typed instanceof UpstreamError ? typed.retryable : true });
    }
    return client;
  }

  async close(log: Logger): Promise<void> {
    const lost = this.keeper.stop();
    await Promise.allSettled(this.clients.map((c) => c.end()));
    await Promise.allSettled(
      this.leases.map((leaseId) =>
        this.deps.secrets.revoke(leaseId, this.ctx).catch((err: unknown) => log.warn({ err, leaseId }, 'lease revoke failed; it will expire')),
      ),
    );
    // The task's own error is only "connection terminated": say why (retryable, with a fresh credential).
    if (lost) throw new CredentialLostError(`${lost}; the task was stopped and rolled back`);
  }
}

/** What a run reports when a connection could not be made. */
export const connectFailure = (name: string) => `could not connect to connection '${name}'`;

async function typeNames(client: pg.Client, oids: number[]): Promise<Map<number, string>> {
  const { rows } = await client.query<{ oid: number; typname: string }>(
    'SELECT oid::int AS oid, typname FROM pg_type WHERE oid = ANY($1::oid[])',
    [oids],
  );
  return new Map(rows.map((r) => [r.oid, r.typname]));
}

async function primaryKey(client: pg.Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
    [quoteQualified(table)],
  );
  return rows.map((r) => r.attname);
}

/** The target's insertable columns in order, and those of them with a default btree ordering. */
export async function targetColumns(client: pg.Client, table: string): Promise<{ all: string[]; orderable: string[] }> {
  const { rows } = await client.query<{ attname: string; orderable: boolean }>(
    `SELECT a.attname, EXISTS (
       SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
       WHERE m.amname = 'btree' AND o.opcdefault AND o.opcintype = a.atttypid) AS orderable
     FROM pg_attribute a
     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     ORDER BY a.attnum`,
    [quoteQualified(table)],
  );
  if (rows.length === 0) throw new LoadFailure({ code: 'target_missing', message: `target table ${table} does not exist or is not visible` });
  return { all: rows.map((r) => r.attname), orderable: rows.filter((r) => r.orderable).map((r) => r.attname) };
}

/** Claims a ledger row in the open transaction; false when it exists already (the work was done before). */
export async function claim(tgt: pg.Client, runId: string, chunk: number): Promise<boolean> {
  const res = await tgt.query(`INSERT INTO ${LEDGER} (run_id, chunk) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [runId, chunk]);
  return res.rowCount === 1;
}

export async function finished(tgt: pg.Client, runId: string): Promise<number | null> {
  const { rows } = await tgt.query<{ chunk: number }>(`SELECT chunk FROM ${LEDGER} WHERE run_id = $1 AND chunk < 0 LIMIT 1`, [runId]);
  return rows[0]?.chunk ?? null;
}

/**
 * One chunk: `COPY (SELECT … WHERE <chunk>) TO STDOUT` from the source in a read-only transaction, through the
 * sandboxed transform, `COPY … FROM STDIN` into the run's staging table for this chunk, and its ledger row — all
 * in one target transaction. A repeated chunk finds its ledger row and does nothing; a failure rolls back.
 */
export async function loadChunk(task: LoadTask['payload'], deps: LoadDeps): Promise<LoadResult> {
  const attributes = { 'aoetl.run.id': task.runId, 'aoetl.task.id': task.taskId, 'aoetl.chunk': task.chunk.index, 'aoetl.chunks': task.chunk.count };
  return withSpan('aoetl.chunk', attributes, () => stageChunk(task, deps));
}

async function stageChunk(task: LoadTask['payload'], deps: LoadDeps): Promise<LoadResult> {
  const started = Date.now();
  const ctx = { runId: task.runId, taskId: task.taskId };
  const log = deps.logger.child({ ...ctx, chunk: task.chunk.index });
  const session = new Session(deps, ctx);
  try {
    const tgt = await session.connect(task.target.connection, 'aoetl-etl-target');
    // An incremental run's window is fixed (by whichever chunk comes first) before this chunk's snapshot is taken.
    let src: pg.Client | null = null;
    let window: { window: WatermarkWindow; type: string } | null = null;
    if (task.incremental) {
      src = await session.connect(task.source.connection, 'aoetl-etl-source');
      const type = await watermarkType(src, task.source.table, task.incremental.column);
      window = { window: await fixWindow(src, tgt, task.runId, task.source.table, task.incremental, type), type };
    }
    const withWindow = (r: LoadResult): LoadResult => (window ? { ...r, watermark: window.window } : r);
    await tgt.query('BEGIN');
    // Blocks while another agent holds the same chunk, then finds its row: exactly one load per chunk.
    if (!(await claim(tgt, task.runId, task.chunk.index)) || (await finished(tgt, task.runId)) !== null) {
      await tgt.query('ROLLBACK');
      const { rows } = await tgt.query(
        `SELECT coalesce(rows_in, 0) AS rows_in, coalesce(rows_out, 0) AS rows_out, coalesce(bytes_out, 0) AS bytes_out
         FROM ${LEDGER} WHERE run_id = $1 AND chunk = $2`,
        [task.runId, task.chunk.index],
      );
      const r = (rows[0] ?? {}) as Record<string, string>;
      log.info('chunk already staged; nothing to do');
      return withWindow({ rowsIn: Number(r.rows_in ?? 0), rowsOut: Number(r.rows_out ?? 0), bytesIn: 0, bytesOut: Number(r.bytes_out ?? 0), durationMs: Date.now() - started });
    }

    src ??= await session.connect(task.source.connection, 'aoetl-etl-source');
    await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await src.query(`SET LOCAL statement_timeout = ${Math.floor(task.limits.timeoutMs)}`);
    const table = quoteQualified(task.source.table);
    const probe = await src.query(`SELECT * FROM ${table} LIMIT 0`);
    const names = await typeNames(src, probe.fields.map((f) => f.dataTypeID));
    const columns = probe.fields.map((f) => f.name);
    const types = probe.fields.map((f) => names.get(f.dataTypeID) ?? 'text');
    const key = await primaryKey(src, task.source.table);
    const client = src;
    const inWindow = window ? ` AND ${windowPredicate(window.window, window.type, (v) => client.escapeLiteral(v))}` : '';
    const select = `SELECT * FROM ${table} t WHERE ${chunkPredicate(key, task.chunk.index, task.chunk.count)}${inWindow}`;

    // Staged in the shape of the transform's declared output when there is one (the commit provisions the target
    // from it), else of the target table.
    const staging = stagingTable(task.runId, task.chunk.index);
    let outputColumns: string[];
    const declared = task.transform.language === 'python' ? task.transform.output : undefined;
    if (declared) {
      const output = await resolveOutput(tgt, declared);
      outputColumns = output.map((c) => c.name);
      await tgt.query(`CREATE TABLE ${staging} (${output.map((c) => `${quoteIdent(c.name)} ${c.declared}`).join(', ')})`);
    } else {
      outputColumns = (await targetColumns(tgt, task.target.table)).all;
      await tgt.query(`CREATE TABLE ${staging} (LIKE ${quoteQualified(task.target.table)} INCLUDING DEFAULTS)`);
    }
    const missingKeys = task.target.keys.filter((k) => !outputColumns.includes(k));
    if (missingKeys.length) {
      throw new LoadFailure({ code: 'input', message: `merge keys not in the columns of ${task.target.table}: ${missingKeys.join(', ')}` });
    }

    const copyIn = tgt.query(copyFrom(`COPY ${staging} (${outputColumns.map(quoteIdent).join(', ')}) FROM STDIN`));
    const copyOut = src.query(copyTo(`COPY (${select}) TO STDOUT`));
    const counterIn = new RowCounter();
    const counterOut = new RowCounter();
    const toSandbox = new PassThrough();
    const fromSandbox = new PassThrough();
    // Settled promises: a failing side must not become an unhandled rejection while the sandbox still runs.
    // Extract, sandbox and load overlap (one stream): each has its own span under the chunk's.
    const settle = (p: Promise<void>, span: Span) =>
      p.then(
        () => (endSpan(span), null),
        (err: Error) => (endSpan(span, err), err),
      );
    const extract = settle(pipeline(copyOut, counterIn, toSandbox), startChildSpan('aoetl.chunk.extract', { 'aoetl.run.id': task.runId }));
    let loadFailedFirst: Error | null = null;
    const load = settle(pipeline(fromSandbox, counterOut, copyIn), startChildSpan('aoetl.chunk.load', { 'aoetl.run.id': task.runId })).then(
      (err) => (loadFailedFirst ??= err),
    );

    const outcome = await withSpan('aoetl.chunk.sandbox', { 'aoetl.run.id': task.runId }, async (span) => {
      const result = await deps.runner.run({
      runId: task.runId,
      code: task.transform.code,
      codeSha256: task.transform.sha256,
      columns,
      types,
      outputColumns,
      input: toSandbox,
      output: fromSandbox,
      limits: task.limits,
      });
      if (!result.ok) failSpan(span, result.reason.code);
      return result;
    });
    if (!outcome.ok) {
      // If the target refused the output first (bad type, NOT NULL), the sandbox only saw a broken pipe.
      const firstLoadError = loadFailedFirst as Error | null;
      if (firstLoadError) throw new LoadFailure({ code: 'load', message: `loading the transform's output failed: ${firstLoadError.message}` });
      toSandbox.destroy();
      fromSandbox.destroy();
      await Promise.all([extract, load]);
      throw new LoadFailure(outcome.reason);
    }
    if (!fromSandbox.writableEnded) fromSandbox.end();
    const [extractErr, loadErr] = await Promise.all([extract, load]);
    if (loadErr) throw new LoadFailure({ code: 'load', message: `loading the transform's output failed: ${loadErr.message}` });
    if (extractErr) throw extractErr;

    if ((await finished(tgt, task.runId)) !== null) {
      // The run was aborted (or committed) while this chunk ran: keep nothing.
      await tgt.query('ROLLBACK');
      log.info('run finished while the chunk ran; staged rows discarded');
      return withWindow({ rowsIn: counterIn.rows, rowsOut: 0, bytesIn: counterIn.bytes, bytesOut: 0, durationMs: Date.now() - started });
    }
    await tgt.query(`UPDATE ${LEDGER} SET rows_in = $3, rows_out = $4, bytes_out = $5, at = now() WHERE run_id = $1 AND chunk = $2`, [
      task.runId, task.chunk.index, counterIn.rows, counterOut.rows, counterOut.bytes,
    ]);
    await tgt.query('COMMIT');
    await src.query('COMMIT');
    const result = withWindow({
      rowsIn: counterIn.rows, rowsOut: counterOut.rows, bytesIn: counterIn.bytes, bytesOut: counterOut.bytes, durationMs: Date.now() - started,
      ...(outcome.cpuMs !== undefined ? { cpuMs: outcome.cpuMs } : {}),
    });
    log.info(result, 'chunk staged');
    return result;
  } finally {
    await session.close(log);
  }
}

/**
 * Moves every staged chunk into the target with one statement and drops the staging tables, in one transaction
 * that also writes the run's commit row to the ledger: a repeated commit is a no-op. `abort` drops the staged
 * chunks and marks the run aborted, so a late chunk task does nothing.
 */
export async function commitRun(task: CommitTask['payload'], deps: LoadDeps): Promise<LoadResult> {
  return withSpan(`aoetl.${task.action}`, { 'aoetl.run.id': task.runId, 'aoetl.task.id': task.taskId }, () => finishRun(task, deps));
}

async function finishRun(task: CommitTask['payload'], deps: LoadDeps): Promise<LoadResult> {
  const ctx = { runId: task.runId, taskId: task.taskId };
  const log = deps.logger.child({ ...ctx, action: task.action });
  const session = new Session(deps, ctx);
  try {
    const tgt = await session.connect(task.target.connection, 'aoetl-etl-commit');
    return await commitOnTarget(tgt, task, log);
  } finally {
    await session.close(log);
  }
}

/**
 * `commitRun`'s work on a connected target client (the load role's session): one transaction, rolled back on any
 * failure, so a failed gate, drift or watermark conflict leaves the target as it was.
 */
export async function commitOnTarget(tgt: pg.Client, task: CommitTask['payload'], log: Logger): Promise<LoadResult> {
  const started = Date.now();
  await tgt.query('BEGIN');
  try {
    const marker = task.action === 'commit' ? COMMITTED : ABORTED;
    const done = await finished(tgt, task.runId);
    if (done !== null || !(await claim(tgt, task.runId, marker))) {
      await tgt.query('ROLLBACK');
      if (done === ABORTED && task.action === 'commit') {
        throw new LoadFailure({ code: 'aborted', message: 'the run was aborted before its commit' });
      }
      const { rows } = await tgt.query(`SELECT coalesce(rows_out, 0) AS n FROM ${LEDGER} WHERE run_id = $1 AND chunk = $2`, [task.runId, marker]);
      log.info('run already finished in the target; nothing to do');
      return { rowsIn: 0, rowsOut: Number((rows[0] as { n?: string } | undefined)?.n ?? 0), bytesIn: 0, bytesOut: 0, durationMs: Date.now() - started };
    }
    const chunks = Array.from({ length: task.chunks }, (_, i) => i);
    let rowsOut = 0;
    const extra: Pick<LoadResult, 'watermark' | 'checks'> = {};
    if (task.action === 'commit') {
      const { rows } = await tgt.query<{ n: string }>(`SELECT count(*) AS n FROM ${LEDGER} WHERE run_id = $1 AND chunk >= 0`, [task.runId]);
      if (Number(rows[0]?.n) !== task.chunks) {
        throw new LoadFailure({ code: 'chunks_missing', message: `only ${rows[0]?.n} of ${task.chunks} chunks are staged` });
      }
      const schema = task.target.table.split('.')[0] ?? '';
      if (RESERVED_SCHEMA.test(schema)) throw new LoadFailure({ code: 'input', message: `aoetl never loads into schema ${schema}` });
      // Everything below is one transaction: the gates, the watermark, the target's DDL and its rows.
      const columns = task.output ? task.output.map((c) => c.name) : (await targetColumns(tgt, task.target.table)).all;
      const cols = columns.map(quoteIdent).join(', ');
      const union = `(${chunks.map((i) => `SELECT ${cols} FROM ${stagingTable(task.runId, i)}`).join(' UNION ALL ')})`;
      if (task.checks?.length) {
        const results = await evaluateChecks(tgt, union, task.checks, task.baselineRows ?? null, columns);
        const failed = results.filter((r) => !r.passed);
        if (failed.length > 0) {
          throw new LoadFailure({
            code: 'quality_check_failed',
            message: `${failed.length} of ${results.length} quality checks failed (${failed.map((r) => r.name).join(', ')}); nothing was committed`,
            checks: results,
          });
        }
        extra.checks = results;
      }
      if (task.incremental) extra.watermark = await advanceWatermark(tgt, task.runId, task.incremental);
      if (task.output) {
        const provisioned = await provisionTarget(tgt, task.target, task.output);
        if (provisioned.created || provisioned.added.length || provisioned.dropped.length || provisioned.retyped.length) {
          log.info(provisioned, 'target provisioned from the output columns');
        }
      }
      const target = await targetColumns(tgt, task.target.table);
      const orderable = target.orderable.filter((c) => columns.includes(c));
      if (task.target.mode === 'replace') await tgt.query(`DELETE FROM ${quoteQualified(task.target.table)}`);
      try {
        const res = await tgt.query(mergeStatement(task.target.table, columns, task.target.mode, task.target.keys, union, orderable));
        rowsOut = res.rowCount ?? 0;
      } catch (err) {
        const pgErr = err as { code?: string; message: string };
        if (pgErr.code && /^(22|23)/.test(pgErr.code)) throw new LoadFailure({ code: 'load', message: pgErr.message });
        throw err;
      }
    }
    for (const i of chunks) await tgt.query(`DROP TABLE IF EXISTS ${stagingTable(task.runId, i)}`);
    await tgt.query(`UPDATE ${LEDGER} SET rows_out = $3, at = now() WHERE run_id = $1 AND chunk = $2`, [task.runId, marker, rowsOut]);
    await tgt.query('COMMIT');
    const result = { rowsIn: 0, rowsOut, bytesIn: 0, bytesOut: 0, durationMs: Date.now() - started, ...extra };
    log.info({ ...result, checks: extra.checks?.length }, task.action === 'commit' ? 'run committed to the target' : 'staged chunks dropped');
    return result;
  } catch (err) {
    await tgt.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
