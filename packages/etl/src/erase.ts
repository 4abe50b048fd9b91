import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import pg from 'pg';
import type { Logger } from 'pino';
import { InputError, type ConnectionDescriptor } from '@aoetl/contracts';
import type { CredentialContext, SecretStore } from '@aoetl/secrets';
import { quoteIdent, quoteQualified } from './sql.js';

/** A person (or any subject) to erase: the rows whose `column` equals `value`. */
export interface ErasureSubject {
  column: string;
  value: string;
}

export interface ErasureTarget {
  connection: ConnectionDescriptor;
  table: string;
}

export interface ErasureCount {
  connection: string;
  table: string;
  /** Rows deleted; null when the table has no such column (nothing to erase there). */
  deleted: number | null;
}

export interface EraseDeps {
  secrets: SecretStore;
  logger: Logger;
  /** CA that signs the databases' server certificates. */
  dbCaFile: string;
}

/**
 * Deletes the subject's rows from every target table, one transaction per table, through a fresh credential from
 * each target's Vault role (revoked afterwards). First checks every table: when none has the column, nothing is
 * deleted and the error names `subject.column`; a value the column's type cannot hold names `subject.value`.
 */
export async function eraseSubject(deps: EraseDeps, targets: readonly ErasureTarget[], subject: ErasureSubject, ctx: CredentialContext): Promise<ErasureCount[]> {
  const ca = readFileSync(deps.dbCaFile);
  const clients = new Map<string, pg.Client>();
  const leases: string[] = [];
  const clientFor = async (desc: ConnectionDescriptor): Promise<pg.Client> => {
    const known = clients.get(desc.name);
    if (known) return known;
    const cred = await deps.secrets.databaseCredential(desc.vaultRole, ctx);
    leases.push(cred.leaseId);
    const client = new pg.Client({
      host: desc.host, port: desc.port, database: desc.database, user: cred.username, password: cred.password,
      application_name: 'aoetl-erasure', ssl: { ca, ...(isIP(desc.host) ? {} : { servername: desc.host }) }, connectionTimeoutMillis: 10_000,
    });
    clients.set(desc.name, client);
    await client.connect();
    return client;
  };
  try {
    const plan: { target: ErasureTarget; has: boolean }[] = [];
    for (const target of targets) {
      const client = await clientFor(target.connection);
      const { rows } = await client.query(
        'SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped',
        [quoteQualified(target.table), subject.column],
      );
      plan.push({ target, has: rows.length > 0 });
    }
    if (targets.length > 0 && !plan.some((p) => p.has)) {
      throw new InputError(`subject.column: no table this tenant's pipelines wrote has a column ${subject.column}`, {
        details: [{ field: 'subject.column', message: `is not a column of any table written (${targets.map((t) => t.table).join(', ')})` }],
      });
    }
    const out: ErasureCount[] = [];
    for (const { target, has } of plan) {
      if (!has) {
        out.push({ connection: target.connection.name, table: target.table, deleted: null });
        continue;
      }
      const client = await clientFor(target.connection);
      try {
        await client.query('BEGIN');
        const res = await client.query(`DELETE FROM ${quoteQualified(target.table)} WHERE ${quoteIdent(subject.column)} = $1`, [subject.value]);
        await client.query('COMMIT');
        out.push({ connection: target.connection.name, table: target.table, deleted: res.rowCount ?? 0 });
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if ((err as { code?: string }).code === '22P02' || (err as { code?: string }).code === '22007' || (err as { code?: string }).code === '22003') {
          throw new InputError(`subject.value: not a valid value for ${target.table}.${subject.column}`, {
            cause: err,
            details: [{ field: 'subject.value', message: `is not a valid value for column ${subject.column}` }],
          });
        }
        throw err;
      }
    }
    return out;
  } finally {
    await Promise.allSettled([...clients.values()].map((c) => c.end()));
    await Promise.allSettled(leases.map((l) => deps.secrets.revoke(l, ctx).catch((err: unknown) => deps.logger.warn({ err }, 'erasure lease revoke failed; it will expire'))));
  }
}
