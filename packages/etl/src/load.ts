import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { InputError, type ConnectionDescriptor, type FailureReason, type LoadTask, type TaskLimits } from '@aoetl/contracts';
import type { DatabaseCredential, SecretStore } from '@aoetl/secrets';
import { mergeStatement, quoteIdent, quoteQualified } from './sql.js';

/** What the loader needs from a sandbox: run `transform(rows)` over COPY text rows, streaming in and out. */
export interface TransformRunner {
  run(req: {
    runId: string;
    code: string;
    columns: string[];
    types: string[];
    outputColumns: string[];
    input: Readable;
    output: Writable;
    limits: TaskLimits;
  }): Promise<TransformOutcome>;
}
export type TransformOutcome = { ok: true } | { ok: false; reason: FailureReason };

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
}

/** A load that failed for a reason that retrying will not fix; the run fails with `reason`. */
export class LoadFailure extends Error {
  constructor(readonly reason: FailureReason) {
    super(reason.message);
    this.name = 'LoadFailure';
  }
}

/** Counts bytes and newline-terminated rows flowing through. */
class RowCounter extends Transform {
  rows = 0;
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.rows += 1;
    done(null, chunk);
  }
}

function connect(desc: ConnectionDescriptor, cred: DatabaseCredential, ca: Buffer, app: string): pg.Client {
  return new pg.Client({
    host: desc.host,
    port: desc.port,
    database: desc.database,
    user: cred.username,
    password: cred.password,
    application_name: app,
    ssl: { ca, ...(isIP(desc.host) ? {} : { servername: desc.host }) },
    connectionTimeoutMillis: 10_000,
  });
}

async function typeNames(client: pg.Client, oids: number[]): Promise<Map<number, string>> {
  const { rows } = await client.query<{ oid: number; typname: string }>(
    'SELECT oid::int AS oid, typname FROM pg_type WHERE oid = ANY($1::oid[])',
    [oids],
  );
  return new Map(rows.map((r) => [r.oid, r.typname]));
}

/**
 * One load task: credentials from Vault at the moment of use, `COPY (SELECT …) TO STDOUT` from the source in a
 * read-only transaction, through the sandboxed transform, `COPY … FROM STDIN` into a temporary staging table,
 * then one statement into the target and COMMIT. Any failure rolls back: nothing half-loaded is ever visible.
 * Credentials are revoked when the task ends, whatever the outcome.
 */
export async function runLoadTask(task: LoadTask['payload'], deps: LoadDeps): Promise<LoadResult> {
  const started = Date.now();
  const ctx = { runId: task.runId, taskId: task.taskId };
  const log = deps.logger.child(ctx);
  const ca = readFileSync(deps.dbCaFile);
  const leases: string[] = [];
  const clients: pg.Client[] = [];
  try {
    const srcCred = await deps.secrets.databaseCredential(task.source.connection.vaultRole, ctx);
    leases.push(srcCred.leaseId);
    const tgtCred = await deps.secrets.databaseCredential(task.target.connection.vaultRole, ctx);
    leases.push(tgtCred.leaseId);
    const src = connect(task.source.connection, srcCred, ca, 'aoetl-etl-source');
    const tgt = connect(task.target.connection, tgtCred, ca, 'aoetl-etl-target');
    clients.push(src, tgt);
    await Promise.all([src.connect(), tgt.connect()]);

    await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await src.query(`SET LOCAL statement_timeout = ${Math.floor(task.limits.timeoutMs)}`);
    const select = `SELECT * FROM ${quoteQualified(task.source.table)}`;
    const probe = await src.query(`${select} LIMIT 0`);
    const names = await typeNames(src, probe.fields.map((f) => f.dataTypeID));
    const columns = probe.fields.map((f) => f.name);
    const types = probe.fields.map((f) => names.get(f.dataTypeID) ?? 'text');

    await tgt.query('BEGIN');
    const [schema, table] = task.target.table.split('.') as [string, string];
    const targetCols = (
      await tgt.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
         AND is_generated = 'NEVER' ORDER BY ordinal_position`,
        [schema, table],
      )
    ).rows.map((r) => r.column_name);
    if (targetCols.length === 0) {
      throw new LoadFailure({ code: 'target_missing', message: `target table ${task.target.table} does not exist or is not visible` });
    }
    const missingKeys = task.target.keys.filter((k) => !targetCols.includes(k));
    if (missingKeys.length) {
      throw new LoadFailure({ code: 'input', message: `merge keys not in ${task.target.table}: ${missingKeys.join(', ')}` });
    }
    await tgt.query(`CREATE TEMP TABLE aoetl_stage (LIKE ${quoteQualified(task.target.table)} INCLUDING DEFAULTS) ON COMMIT DROP`);

    const colList = targetCols.map(quoteIdent).join(', ');
    const copyIn = tgt.query(copyFrom(`COPY aoetl_stage (${colList}) FROM STDIN`));
    const copyOut = src.query(copyTo(`COPY (${select}) TO STDOUT`));
    const counterIn = new RowCounter();
    const counterOut = new RowCounter();
    const toSandbox = new PassThrough();
    const fromSandbox = new PassThrough();
    // Settled promises: a failing side must not become an unhandled rejection while the sandbox still runs.
    const settle = (p: Promise<void>) => p.then(() => null, (err: Error) => err);
    const extract = settle(pipeline(copyOut, counterIn, toSandbox));
    let loadFailedFirst: Error | null = null;
    const load = settle(pipeline(fromSandbox, counterOut, copyIn)).then((err) => (loadFailedFirst ??= err));

    const outcome = await deps.runner.run({
      runId: task.runId,
      code: task.transform.code,
      columns,
      types,
      outputColumns: targetCols,
      input: toSandbox,
      output: fromSandbox,
      limits: task.limits,
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
    try {
      if (task.target.mode === 'replace') await tgt.query(`DELETE FROM ${quoteQualified(task.target.table)}`);
      await tgt.query(mergeStatement(task.target.table, targetCols, task.target.mode, task.target.keys));
    } catch (err) {
      const pgErr = err as { code?: string; message: string };
      if (pgErr.code === '21000') {
        throw new LoadFailure({ code: 'load', message: 'the transform produced several rows with the same merge key' });
      }
      if (pgErr.code && /^(22|23)/.test(pgErr.code)) throw new LoadFailure({ code: 'load', message: pgErr.message });
      throw err;
    }
    await tgt.query('COMMIT');
    await src.query('COMMIT');
    const result = {
      rowsIn: counterIn.rows,
      rowsOut: counterOut.rows,
      bytesIn: counterIn.bytes,
      bytesOut: counterOut.bytes,
      durationMs: Date.now() - started,
    };
    log.info(result, 'load committed');
    return result;
  } catch (err) {
    if (err instanceof InputError) throw new LoadFailure({ code: 'input', message: err.message });
    throw err;
  } finally {
    await Promise.allSettled(clients.map((c) => c.end()));
    await Promise.allSettled(
      leases.map((leaseId) =>
        deps.secrets.revoke(leaseId, ctx).catch((err: unknown) => log.warn({ err, leaseId }, 'lease revoke failed; it will expire')),
      ),
    );
  }
}
