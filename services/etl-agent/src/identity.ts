import type { AgentIdentity } from '@aoetl/contracts';
import type { Logger } from '@aoetl/observability';
import type { SecretStore } from '@aoetl/secrets';
import type { EtlAgentConfig } from './config.js';

/**
 * What the agent's heartbeat tells the monitor so that a quarantine can isolate exactly this agent: its Redis ACL
 * user and consumer name, its Vault token's accessor (never the token) and, in Kubernetes, its pod (downward API).
 */
export function agentIdentity(config: EtlAgentConfig, secrets: Pick<SecretStore, 'tokenAccessor'>, logger: Logger): () => Promise<AgentIdentity> {
  const pod =
    config.AOETL_POD_NAME && config.AOETL_POD_NAMESPACE ? { namespace: config.AOETL_POD_NAMESPACE, name: config.AOETL_POD_NAME } : undefined;
  return async () => {
    let vaultTokenAccessor: string | undefined;
    try {
      vaultTokenAccessor = await secrets.tokenAccessor?.();
    } catch (err) {
      // Vault unreachable: the heartbeat still goes out, without the accessor (the next one may carry it).
      logger.debug({ err }, 'no vault token accessor for the heartbeat');
    }
    return {
      redisUser: config.AOETL_REDIS_USERNAME,
      consumer: config.AOETL_CONSUMER_NAME,
      ...(vaultTokenAccessor ? { vaultTokenAccessor } : {}),
      ...(pod ? { pod } : {}),
    };
  };
}
