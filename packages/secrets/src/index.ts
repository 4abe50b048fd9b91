export type {
  SecretStore,
  DatabaseCredential,
  CredentialContext,
  KvSecret,
  KvReadOptions,
  LeaseInfo,
  Transit,
} from './secret-store.js';
export { VaultSecretStore, TENANT_NAME, type VaultAuth, type VaultOptions } from './vault.js';
export { appRoleVault, type AppRoleSettings } from './approle.js';
export { VaultTransit } from './transit.js';
export { parseTenantScope, scopeViolations, type TenantScope, type ScopedConnection, type ScopeViolation } from './tenant-scope.js';
export { emitAudit, type AuditRecord, type AuditEvent, type AuditSink } from './audit.js';
export {
  VaultUnavailableError,
  VaultPermissionError,
  VaultLoginRefusedError,
  LeaseNotFoundError,
  toTypedError,
  type VaultUnavailableReason,
} from './errors.js';
export {
  DevFileSecretStore,
  sealDevSecrets,
  openDevSecrets,
  generateDevSecretsKey,
  type DevSecrets,
  type DevFileOptions,
} from './dev-file.js';
