import { ConfigError } from '@aoetl/contracts';
import { VaultSecretStore, type VaultOptions } from './vault.js';

/** The Vault settings a service reads when it logs in with AppRole (the same variable names in every service). */
export interface AppRoleSettings {
  AOETL_VAULT_ADDR?: string | undefined;
  AOETL_VAULT_CACERT?: string | undefined;
  AOETL_VAULT_ROLE_ID?: string | undefined;
  AOETL_VAULT_SECRET_ID?: string | undefined;
  /** Vault-side tenant scope (VaultOptions.tenantTokenRole); empty: off. */
  AOETL_VAULT_TENANT_TOKEN_ROLE?: string | undefined;
}

/**
 * A Vault client logged in with AppRole from a service's validated settings; null when no Vault address is set.
 * With an address, the CA file, role id and secret id are required: a ConfigError names every missing one.
 */
export function appRoleVault(settings: AppRoleSettings, deps: Pick<VaultOptions, 'logger' | 'actor'>): VaultSecretStore | null {
  const { AOETL_VAULT_ADDR: endpoint, AOETL_VAULT_CACERT: caFile, AOETL_VAULT_ROLE_ID: roleId, AOETL_VAULT_SECRET_ID: secretId } = settings;
  if (!endpoint) return null;
  if (!caFile || !roleId || !secretId) {
    const missing = (['AOETL_VAULT_CACERT', 'AOETL_VAULT_ROLE_ID', 'AOETL_VAULT_SECRET_ID'] as const).filter((k) => !settings[k]);
    throw new ConfigError(`invalid configuration: AOETL_VAULT_ADDR needs ${missing.join(', ')}`);
  }
  const tenantTokenRole = settings.AOETL_VAULT_TENANT_TOKEN_ROLE;
  return new VaultSecretStore({ endpoint, caFile, auth: { method: 'approle', roleId, secretId }, ...(tenantTokenRole ? { tenantTokenRole } : {}), ...deps });
}
