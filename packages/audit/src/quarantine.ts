import type { QuarantineAudit } from '@aoetl/contracts';

/** The ledger chain of platform-wide actions (no tenant's): quarantines of agents. */
export const PLATFORM_TENANT = '_platform';

/** The ledger entry of a quarantine action (platform chain); `eventId` lets a redelivery be recognised. */
export function quarantineLedgerEntry(msg: QuarantineAudit) {
  const { event, actor, agentId, ...rest } = msg.payload;
  return {
    tenant: PLATFORM_TENANT,
    actor,
    action: event,
    object: `agent:${agentId}`,
    payload: { ...rest, eventId: msg.id },
  };
}
