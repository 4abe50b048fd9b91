/** A database credential issued for one run. The password is registered for log scrubbing by the adapter. */
export interface DatabaseCredential {
  username: string;
  password: string;
  leaseId: string;
  leaseDurationSec: number;
  renewable: boolean;
}

export interface CredentialContext {
  runId: string;
  taskId?: string;
}

/** Everything aoetl asks of a secrets manager. One adapter per system (Vault/OpenBao on node-vault). */
export interface SecretStore {
  /** A fresh credential from a database-secrets role path such as `database/creds/source-reader`. */
  databaseCredential(path: string, ctx: CredentialContext): Promise<DatabaseCredential>;
  renew(leaseId: string, incrementSec?: number): Promise<number>;
  revoke(leaseId: string, ctx: CredentialContext): Promise<void>;
  ping(): Promise<void>;
}
