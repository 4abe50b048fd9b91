import type { Logger } from 'pino';
import type { CredentialContext } from './secret-store.js';

export type AuditEvent =
  | 'vault.login'
  | 'vault.login_failed'
  | 'vault.token_renewed'
  | 'vault.tenant_token'
  | 'vault.token_revoked'
  | 'credential.issued'
  | 'credential.renewed'
  | 'credential.revoked'
  | 'credential.denied'
  | 'kv.read'
  | 'transit.encrypt'
  | 'transit.decrypt'
  | 'transit.sign'
  | 'transit.verify';

/**
 * One access to credential material: who, what (path or role), for which run, when, the lease. Never a value:
 * the type has no field for one, and the record is built from identifiers only.
 */
export interface AuditRecord {
  event: AuditEvent;
  /** This process's identity (agent id), as configured. */
  actor: string;
  /** The identity Vault knows us by (display name of the token), when logged in. */
  identity?: string;
  /** Vault path or role (`database/creds/source-reader`, `secret/aoetl/x`, `transit/sign/k`, `auth/approle`). */
  path: string;
  runId?: string;
  taskId?: string;
  /** The tenant whose Vault scope was used (tenant tokens). */
  tenant?: string;
  leaseId?: string;
  /** Generated user name of a database credential: an identifier, not a secret. */
  username?: string;
  /** KV version read. */
  version?: number;
  /** Answered from the adapter's cache. */
  cached?: boolean;
  outcome: 'ok' | 'error';
  /** Error code when the access failed (`not_allowed`, `upstream`). */
  error?: string;
  /** ISO time of the access. */
  at: string;
}

/** Receives every audit record; the lead persists them (audit log) through this hook. Must not throw. */
export type AuditSink = (record: AuditRecord) => void;

/** Writes the record as one structured log line (`audit: <event>`) and hands it to the sink. */
export function emitAudit(
  logger: Logger,
  sink: AuditSink | undefined,
  fields: Omit<AuditRecord, 'at' | 'outcome' | 'runId' | 'taskId'> & { outcome?: AuditRecord['outcome']; ctx?: CredentialContext },
): AuditRecord {
  const { ctx, ...rest } = fields;
  const record: AuditRecord = {
    ...rest,
    outcome: fields.outcome ?? 'ok',
    ...(ctx?.runId ? { runId: ctx.runId } : {}),
    ...(ctx?.taskId ? { taskId: ctx.taskId } : {}),
    ...(ctx?.tenant ? { tenant: ctx.tenant } : {}),
    at: new Date().toISOString(),
  };
  const { event, ...line } = record;
  if (record.outcome === 'ok') logger.info({ audit: event, ...line }, 'credential access');
  else logger.warn({ audit: event, ...line }, 'credential access failed');
  if (sink) {
    try {
      sink(record);
    } catch (err) {
      logger.warn({ err, audit: event }, 'audit sink failed');
    }
  }
  return record;
}
