/** A database credential issued for one run. The password is registered for log scrubbing by the adapter. */
export interface DatabaseCredential {
  username: string;
  password: string;
  leaseId: string;
  /** Seconds the lease is valid from issue; 0 when the credential does not expire (dev-file provider). */
  leaseDurationSec: number;
  renewable: boolean;
}

/** Who asks and for which run; carried into every audit record. */
export interface CredentialContext {
  runId: string;
  taskId?: string;
  /** The tenant whose Vault scope issued the credential (`SecretStore.forTenant`). */
  tenant?: string;
}

/** A KV v2 secret version. */
export interface KvSecret {
  data: Record<string, unknown>;
  version: number;
  createdTime: string;
}

export interface KvReadOptions {
  /** A specific version; the latest when absent. */
  version?: number;
  /** KV v2 mount; `secret` when absent. */
  mount?: string;
  ctx?: CredentialContext;
  /**
   * Whether the values are secret (the default). Every string value of a sensitive read is registered with the
   * log scrubber; pass `false` only for non-secret descriptors (host names, role names), which must stay readable.
   */
  sensitive?: boolean;
}

export interface LeaseInfo {
  /** Seconds left before Vault revokes the lease. */
  ttlSec: number;
  renewable: boolean;
}

/** Everything aoetl asks of a secrets manager. One adapter per system (Vault/OpenBao on node-vault, dev file). */
export interface SecretStore {
  /** A fresh credential from a database-secrets role path such as `database/creds/source-reader`. */
  databaseCredential(path: string, ctx: CredentialContext): Promise<DatabaseCredential>;
  /** Extends a lease; resolves to the seconds now left (may be less than asked when the max TTL nears). */
  renew(leaseId: string, incrementSec?: number, ctx?: CredentialContext): Promise<number>;
  /** What Vault knows of a lease; rejects with LeaseNotFoundError when the lease is gone. */
  lookupLease(leaseId: string): Promise<LeaseInfo>;
  revoke(leaseId: string, ctx: CredentialContext): Promise<void>;
  /** A KV v2 read with its version recorded; answers from a short cache when the same version was just read. */
  readKv(path: string, opts?: KvReadOptions): Promise<KvSecret>;
  ping(): Promise<void>;
  /**
   * Revokes every lease this store issued and has not revoked yet (e.g. at shutdown, when tasks were cut short).
   * Optional: a store whose credentials need no revoking (the dev file) leaves it out.
   */
  revokeOutstanding?(): Promise<void>;
  /** The accessor of the Vault token in use (for the monitor's quarantine); absent for stores without tokens. */
  tokenAccessor?(): Promise<string | undefined>;
  /** Stops background work (token renewal). Outstanding leases are left to the caller. */
  close(): void;
  /**
   * This store as one tenant sees it: database credentials come from the tenant's own Vault scope, so Vault
   * refuses another tenant's role. Optional: a store without Vault-side tenant scope leaves it out.
   */
  forTenant?(tenant: string): SecretStore;
}

/** Transit: encryption as a service, for crypto-shredding and signing the audit log. */
export interface Transit {
  /** Encrypts bytes (or UTF-8 text); answers Vault's `vault:vN:…` ciphertext. */
  encrypt(key: string, plaintext: Buffer | string, ctx?: CredentialContext): Promise<string>;
  decrypt(key: string, ciphertext: string, ctx?: CredentialContext): Promise<Buffer>;
  /** Signs bytes with an asymmetric transit key (ed25519, ecdsa, rsa); answers `vault:vN:…`. */
  sign(key: string, data: Buffer | string, ctx?: CredentialContext): Promise<string>;
  verify(key: string, data: Buffer | string, signature: string, ctx?: CredentialContext): Promise<boolean>;
}
