import { ConfigError } from '@aoetl/contracts';
import { appRoleVault } from './approle.js';
import { VaultSecretStore } from './vault.js';

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => logger } as never;

describe('appRoleVault', () => {
  it('is null without a Vault address', () => {
    expect(appRoleVault({}, { logger, actor: 'svc' })).toBeNull();
  });

  it('names every missing AppRole setting when an address is set', () => {
    const call = () => appRoleVault({ AOETL_VAULT_ADDR: 'https://vault:8200', AOETL_VAULT_ROLE_ID: 'role-id-value' }, { logger, actor: 'svc' });
    expect(call).toThrow(ConfigError);
    expect(call).toThrow('AOETL_VAULT_ADDR needs AOETL_VAULT_CACERT, AOETL_VAULT_SECRET_ID');
  });

  it('builds an AppRole client from complete settings', () => {
    const store = appRoleVault(
      { AOETL_VAULT_ADDR: 'https://vault:8200', AOETL_VAULT_CACERT: __filename, AOETL_VAULT_ROLE_ID: 'role-id-value', AOETL_VAULT_SECRET_ID: 'secret-id-value' },
      { logger, actor: 'svc' },
    );
    expect(store).toBeInstanceOf(VaultSecretStore);
    store?.close();
  });
});
