import { credentialAuditMessage } from '@aoetl/audit';
import { STREAMS } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import type { AuditRecord, AuditSink } from '@aoetl/secrets';

type Publish = (stream: string, message: { type: string }) => Promise<unknown>;

/**
 * The secrets audit hook → the events stream: every credential issue, renewal, revocation or denial for a run is
 * published (hashes and ids only) for the orchestrator to append to the audit ledger. `sink` is handed to the secret
 * store at boot; `attach` connects it to the bus once the bus exists. The log line of each access stays regardless.
 */
export class CredentialEvents {
  private publish: Publish | undefined;

  constructor(private readonly log: Logger) {}

  attach(publish: Publish): void {
    this.publish = publish;
  }

  readonly sink: AuditSink = (record: AuditRecord) => {
    const msg = credentialAuditMessage(record, { requestId: record.runId ?? 'credential-audit' });
    if (!msg) return;
    if (!this.publish) {
      this.log.warn({ audit: record.event, runId: record.runId }, 'credential audit before the bus is up; not sent to the ledger');
      return;
    }
    this.publish(STREAMS.events, msg).catch((err: unknown) => this.log.warn({ err, audit: record.event, runId: record.runId }, 'credential audit not published'));
  };
}
