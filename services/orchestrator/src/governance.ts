import { sleep } from '@aoetl/timing';
import { CheckpointFile, signCheckpoint, transitSigner, type CheckpointSigner } from '@aoetl/audit';
import { ConfigError } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import { appRoleVault } from '@aoetl/secrets';
import type { Store } from '@aoetl/store';
import type { OrchestratorConfig } from './config.js';

const DAY_MS = 86_400_000;
/** The service's identity in the ledger entries it appends. */
export const RETENTION_ACTOR = 'service:orchestrator/retention';

/** Days to keep each tenant's run records and unused artifacts: `acme=7,globex=30` over a default. */
export function retentionDays(defaultDays: number, perTenant: string): (tenant: string) => number {
  const table = new Map<string, number>();
  for (const part of perTenant.split(',').filter(Boolean)) {
    const m = /^([^=\s]+)=(\d{1,5})$/.exec(part.trim());
    if (!m || Number(m[2]) < 1) throw new ConfigError(`invalid configuration: AOETL_RETENTION_TENANT_DAYS: "${part}" is not tenant=days (days >= 1)`);
    table.set(m[1]!, Number(m[2]));
  }
  return (tenant) => table.get(tenant) ?? defaultDays;
}

export type GovernanceStore = Pick<Store, 'ledger' | 'retention'>;

/** Purges what each tenant's retention lets go; answers how many runs went. Audited by the purge itself. */
export async function purgeOnce(store: GovernanceStore, days: (tenant: string) => number, log: Logger, now = Date.now()): Promise<number> {
  let runs = 0;
  for (const tenant of await store.retention.tenants()) {
    const cutoff = new Date(now - days(tenant) * DAY_MS);
    const counts = await store.retention.purge(tenant, cutoff, RETENTION_ACTOR);
    if (counts.runs + counts.artifacts > 0) log.info({ tenant, cutoff: cutoff.toISOString(), ...counts }, 'retention purge');
    runs += counts.runs;
  }
  return runs;
}

/**
 * Signs every chain head that moved since its last checkpoint and exports it; `signed` remembers the last seq
 * signed per tenant (seeded from the export, so a restart does not sign the same heads again). Answers how many.
 */
export async function checkpointOnce(store: GovernanceStore, signer: CheckpointSigner, file: CheckpointFile, signed: Map<string, number>): Promise<number> {
  let n = 0;
  for (const head of await store.ledger.heads()) {
    if ((signed.get(head.tenant) ?? 0) >= head.seq) continue;
    await file.append(await signCheckpoint(signer, head));
    signed.set(head.tenant, head.seq);
    n += 1;
  }
  return n;
}

async function every(ms: number, signal: AbortSignal, log: Logger, what: string, work: () => Promise<unknown>): Promise<void> {
  while (!signal.aborted) {
    try {
      await work();
    } catch (err) {
      log.warn({ err }, `${what} failed; retrying`);
    }
    await sleep(ms, signal);
  }
}

/**
 * The governance loops: ledger checkpoints signed with Vault transit (Ed25519) and exported to a file, and the
 * retention purge. Resolves when `signal` aborts. Without Vault configured, no checkpoints are signed (logged).
 */
export async function startGovernance(config: OrchestratorConfig, store: GovernanceStore, logger: Logger, signal: AbortSignal): Promise<void> {
  const log = logger.child({ component: 'governance' });
  const days = retentionDays(config.AOETL_RETENTION_DAYS, config.AOETL_RETENTION_TENANT_DAYS);
  const loops = [every(config.AOETL_RETENTION_EVERY_MS, signal, log, 'retention purge', () => purgeOnce(store, days, log))];
  const vault = appRoleVault(config, { logger: log.child({ component: 'vault' }), actor: 'orchestrator' });
  if (vault) {
    const signer = transitSigner(vault.transit(), config.AOETL_AUDIT_SIGNING_KEY);
    const file = new CheckpointFile(config.AOETL_AUDIT_CHECKPOINT_FILE);
    const signed = new Map<string, number>();
    for (const c of await file.read()) signed.set(c.tenant, Math.max(signed.get(c.tenant) ?? 0, c.seq));
    loops.push(every(config.AOETL_AUDIT_CHECKPOINT_EVERY_MS, signal, log, 'ledger checkpoint', () => checkpointOnce(store, signer, file, signed)));
    signal.addEventListener('abort', () => vault.close(), { once: true });
  } else {
    log.warn('no Vault configured (AOETL_VAULT_ADDR): the audit ledger is not checkpointed; a rewritten chain would go unnoticed');
  }
  await Promise.all(loops);
}
