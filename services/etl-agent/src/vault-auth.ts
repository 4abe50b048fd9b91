import { ConfigError } from '@aoetl/contracts';
import type { VaultAuth } from '@aoetl/secrets';
import type { EtlAgentConfig } from './config.js';

/** The Vault login the configuration asks for; names the missing variable when one is absent. */
export function vaultAuthFrom(config: EtlAgentConfig): VaultAuth {
  switch (config.AOETL_VAULT_AUTH) {
    case 'approle':
      if (!config.AOETL_VAULT_ROLE_ID || !config.AOETL_VAULT_SECRET_ID) {
        throw new ConfigError('invalid configuration: AOETL_VAULT_AUTH=approle needs AOETL_VAULT_ROLE_ID and AOETL_VAULT_SECRET_ID');
      }
      return { method: 'approle', roleId: config.AOETL_VAULT_ROLE_ID, secretId: config.AOETL_VAULT_SECRET_ID };
    case 'token':
      if (!config.AOETL_VAULT_TOKEN) throw new ConfigError('invalid configuration: AOETL_VAULT_AUTH=token needs AOETL_VAULT_TOKEN');
      return { method: 'token', token: config.AOETL_VAULT_TOKEN };
    case 'kubernetes':
      if (!config.AOETL_VAULT_K8S_ROLE) throw new ConfigError('invalid configuration: AOETL_VAULT_AUTH=kubernetes needs AOETL_VAULT_K8S_ROLE');
      return { method: 'kubernetes', role: config.AOETL_VAULT_K8S_ROLE, jwtFile: config.AOETL_VAULT_K8S_JWT_FILE };
  }
}
