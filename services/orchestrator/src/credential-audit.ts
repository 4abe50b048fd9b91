import { credentialLedgerEntry } from '@aoetl/audit';
import { NotFoundError, type CredentialAudit } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import type { Store } from '@aoetl/store';

/**
 * Feeds the agents' credential accesses (the secrets audit hook, sent over the events stream) into the audit ledger,
 * under the tenant of the run they served. A redelivered message is recorded once; a message for a run that does
 * not exist (purged, or forged) is logged and dropped.
 */
export function credentialAuditHandler(store: Pick<Store, 'runs' | 'ledger'>, logger: Logger): (msg: CredentialAudit) => Promise<void> {
  const log = logger.child({ component: 'credential-audit' });
  return async (msg) => {
    const run = await store.runs.getById(msg.payload.runId).catch((err: unknown) => {
      if (err instanceof NotFoundError) return null;
      throw err;
    });
    if (!run) {
      log.warn({ runId: msg.payload.runId, event: msg.payload.event }, 'credential audit for an unknown run; not recorded');
      return;
    }
    await store.ledger.appendOnce(credentialLedgerEntry(msg, run.tenant));
  };
}
