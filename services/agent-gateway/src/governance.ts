import { createHmac } from 'node:crypto';
import { ConfigError } from '@aoetl/contracts';
import { CheckpointFile, canonicalJson, transitSigner, type Checkpoint, type CheckpointVerifier } from '@aoetl/audit';
import { eraseSubject, type ErasureCount, type ErasureSubject, type ErasureTarget } from '@aoetl/etl';
import type { Logger } from '@aoetl/observability';
import { appRoleVault, type VaultSecretStore } from '@aoetl/secrets';
import type { GatewayConfig } from './config.js';

/** What the audit verify and erasure routes need beyond the control database. */
export interface GovernanceDeps {
  /** The signed checkpoints, read from where the orchestrator exports them (outside the database). */
  checkpoints(tenant: string): Promise<Checkpoint[]>;
  verifier: CheckpointVerifier;
  /** Target credentials come from the tenant's own Vault scope when Vault has one (AOETL_VAULT_TENANT_TOKEN_ROLE). */
  erase(targets: readonly ErasureTarget[], subject: ErasureSubject, ctx: { runId: string; tenant: string }): Promise<ErasureCount[]>;
  /** HMAC-SHA-256 of the subject's canonical JSON, keyed from Vault: the only record of who was erased. */
  subjectHash(subject: ErasureSubject): Promise<string>;
  close(): void;
}

export interface VaultGovernanceOptions {
  checkpointFile: string;
  signingKey: string;
  hmacKvPath: string;
  dbCaFile: string;
  logger: Logger;
}

/** Governance over one Vault client: transit verify, target credentials for erasure, the HMAC key from KV. */
export function vaultGovernance(secrets: VaultSecretStore, opts: VaultGovernanceOptions): GovernanceDeps {
  const file = new CheckpointFile(opts.checkpointFile);
  return {
    checkpoints: (tenant) => file.read(tenant),
    verifier: transitSigner(secrets.transit(), opts.signingKey),
    erase: (targets, subject, { runId, tenant }) =>
      eraseSubject({ secrets: secrets.forTenant(tenant), logger: opts.logger, dbCaFile: opts.dbCaFile }, targets, subject, { runId, tenant }),
    async subjectHash(subject) {
      const kv = await secrets.readKv(opts.hmacKvPath);
      const key = kv.data.key;
      if (typeof key !== 'string' || key.length < 32) throw new Error(`${opts.hmacKvPath} holds no key (field "key")`);
      return createHmac('sha256', key).update(canonicalJson({ column: subject.column, value: subject.value })).digest('hex');
    },
    close: () => secrets.close(),
  };
}

/** Vault-backed governance from the configuration; null when it names no Vault (verify trusts no checkpoint, erasure answers 503). */
export function governanceFrom(config: GatewayConfig, logger: Logger): GovernanceDeps | null {
  if (config.AOETL_VAULT_ADDR && !config.AOETL_DB_CA_FILE) {
    throw new ConfigError('invalid configuration: AOETL_VAULT_ADDR needs AOETL_DB_CA_FILE (erasure connects to the targets)');
  }
  const secrets = appRoleVault(config, { logger: logger.child({ component: 'vault' }), actor: 'agent-gateway' });
  if (!secrets || !config.AOETL_DB_CA_FILE) return null;
  return vaultGovernance(secrets, {
    checkpointFile: config.AOETL_AUDIT_CHECKPOINT_FILE,
    signingKey: config.AOETL_AUDIT_SIGNING_KEY,
    hmacKvPath: config.AOETL_ERASURE_HMAC_KV_PATH,
    dbCaFile: config.AOETL_DB_CA_FILE,
    logger,
  });
}
