import { ConfigError } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import { DevFileSecretStore, VaultSecretStore, type AuditSink, type SecretStore, type VaultAuth } from '@aoetl/secrets';
import type { EtlAgentConfig } from './config.js';

/** The Vault login the configuration asks for; names the missing variable when one is absent. */
export function vaultAuthFrom(config: EtlAgentConfig): VaultAuth {
  switch (config.AOETL_VAULT_AUTH) {
    case 'approle':
      if (!config.AOETL_VAULT_ROLE_ID || !config.AOETL_VAULT_SECRET_ID) {
        throw new ConfigError('invalid configuration: AOETL_VAULT_AUTH=approle needs AOETL_VAULT_ROLE_ID and AOETL_VAULT_SECRET_ID');
      }
      return {
        method: 'approle',
        roleId: config.AOETL_VAULT_ROLE_ID,
        secretId: config.AOETL_VAULT_SECRET_ID,
        mount: config.AOETL_VAULT_APPROLE_MOUNT ?? 'approle',
      };
    case 'token':
      if (!config.AOETL_VAULT_TOKEN) throw new ConfigError('invalid configuration: AOETL_VAULT_AUTH=token needs AOETL_VAULT_TOKEN');
      return { method: 'token', token: config.AOETL_VAULT_TOKEN };
    case 'kubernetes':
      if (!config.AOETL_VAULT_K8S_ROLE) throw new ConfigError('invalid configuration: AOETL_VAULT_AUTH=kubernetes needs AOETL_VAULT_K8S_ROLE');
      return {
        method: 'kubernetes',
        role: config.AOETL_VAULT_K8S_ROLE,
        jwtFile: config.AOETL_VAULT_K8S_JWT_FILE,
        mount: config.AOETL_VAULT_K8S_MOUNT ?? 'kubernetes',
      };
  }
}

export interface SecretStoreDeps {
  logger: Logger;
  /** This agent's id, the "who" of every audit record. */
  actor: string;
  onSecret?: (value: string) => void;
  onAudit?: AuditSink;
}

/**
 * The secret store the configuration asks for: Vault/OpenBao (the default), or — only when explicitly enabled —
 * the development-only encrypted file.
 */
export function secretStoreFrom(config: EtlAgentConfig, deps: SecretStoreDeps): SecretStore {
  if (config.AOETL_SECRETS_PROVIDER === 'dev-file') {
    if (!config.AOETL_DEV_SECRETS_ENABLE) {
      throw new ConfigError('invalid configuration: AOETL_SECRETS_PROVIDER=dev-file is for development only and needs AOETL_DEV_SECRETS_ENABLE=true');
    }
    if (!config.AOETL_DEV_SECRETS_FILE || !config.AOETL_DEV_SECRETS_KEY) {
      throw new ConfigError('invalid configuration: AOETL_SECRETS_PROVIDER=dev-file needs AOETL_DEV_SECRETS_FILE and AOETL_DEV_SECRETS_KEY');
    }
    return new DevFileSecretStore({
      file: config.AOETL_DEV_SECRETS_FILE,
      key: Buffer.from(config.AOETL_DEV_SECRETS_KEY, 'base64'),
      enabled: true,
      ...deps,
    });
  }
  return new VaultSecretStore({
    endpoint: config.AOETL_VAULT_ADDR,
    caFile: config.AOETL_VAULT_CACERT,
    auth: vaultAuthFrom(config),
    retries: config.AOETL_VAULT_RETRIES,
    kvCacheMs: config.AOETL_VAULT_KV_CACHE_MS,
    ...(config.AOETL_VAULT_TENANT_TOKEN_ROLE
      ? { tenantTokenRole: config.AOETL_VAULT_TENANT_TOKEN_ROLE, tenantPolicy: config.AOETL_VAULT_TENANT_POLICY }
      : {}),
    ...deps,
  });
}
