import { createHash } from 'node:crypto';
import { envelope, type CredentialAudit, type MessageContext } from '@aoetl/contracts';
import type { AuditRecord } from '@aoetl/secrets';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
type CredentialEvent = CredentialAudit['payload']['event'];
const CREDENTIAL_EVENTS: readonly string[] = ['credential.issued', 'credential.renewed', 'credential.revoked', 'credential.denied'] satisfies CredentialEvent[];
const isCredentialEvent = (e: string): e is CredentialEvent => CREDENTIAL_EVENTS.includes(e);
const sha256 = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');

/**
 * The events-stream message for a secrets audit record (`@aoetl/secrets` audit hook), or null when the record is
 * not a credential access of a run (logins, KV reads and transit calls stay in the service's log). The lease id and
 * the generated user name travel only as SHA-256.
 */
export function credentialAuditMessage(record: AuditRecord, ctx: MessageContext): CredentialAudit | null {
  const event = record.event;
  if (!isCredentialEvent(event) || !record.runId || !UUID.test(record.runId)) return null;
  return envelope('credential.audit', {
    event,
    actor: record.actor.slice(0, 300),
    path: record.path.slice(0, 500),
    runId: record.runId,
    ...(record.taskId && UUID.test(record.taskId) ? { taskId: record.taskId } : {}),
    ...(record.leaseId ? { leaseSha256: sha256(record.leaseId) } : {}),
    ...(record.username ? { usernameSha256: sha256(record.username) } : {}),
    outcome: record.outcome,
    ...(record.error ? { error: record.error.slice(0, 100) } : {}),
  }, ctx);
}

/** The ledger entry of a credential access, for the run's tenant. `eventId` lets a redelivery be recognised. */
export function credentialLedgerEntry(msg: CredentialAudit, tenant: string) {
  const { event, actor, runId, ...rest } = msg.payload;
  return {
    tenant,
    actor: `service:etl-agent/${actor}`,
    action: event,
    object: `run:${runId}`,
    payload: { ...rest, eventId: msg.id },
  };
}
