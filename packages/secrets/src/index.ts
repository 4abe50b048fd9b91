export type { SecretStore, DatabaseCredential, CredentialContext } from './secret-store.js';
export { VaultSecretStore, toTypedError, type VaultAuth, type VaultOptions } from './vault.js';
