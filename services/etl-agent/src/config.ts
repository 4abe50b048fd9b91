import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, Path, Secret } from '@aoetl/config';
import { ConfigError } from '@aoetl/contracts';
import type { DockerRemoteTls } from '@aoetl/sandbox';

export const EtlAgentConfig = Type.Object({
  ...CommonConfig,
  AOETL_CONSUMER_NAME: Type.String({ minLength: 1, default: `etl-agent-${process.pid}` }),
  AOETL_VAULT_ADDR: Type.String({ pattern: '^https://' }),
  AOETL_VAULT_CACERT: Path,
  AOETL_VAULT_AUTH: Type.Union([Type.Literal('approle'), Type.Literal('token'), Type.Literal('kubernetes')], { default: 'approle' }),
  AOETL_VAULT_ROLE_ID: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_VAULT_APPROLE_MOUNT: Type.String({ pattern: '^[a-z0-9][a-z0-9_/-]{0,100}$', default: 'approle' }),
  AOETL_VAULT_SECRET_ID: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_VAULT_TOKEN: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_VAULT_K8S_ROLE: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_VAULT_K8S_JWT_FILE: Type.String({ default: '/var/run/secrets/kubernetes.io/serviceaccount/token' }),
  AOETL_VAULT_K8S_MOUNT: Type.String({ pattern: '^[a-z0-9][a-z0-9_/-]{0,100}$', default: 'kubernetes' }),
  /** Retries of a Vault request that Vault could not answer (down, sealed, 5xx), with backoff from 500 ms. */
  AOETL_VAULT_RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 4 }),
  AOETL_VAULT_KV_CACHE_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 30_000 }),
  /** `dev-file` (development only): an AES-256-GCM encrypted file instead of Vault; also needs AOETL_DEV_SECRETS_ENABLE=true. */
  AOETL_SECRETS_PROVIDER: Type.Union([Type.Literal('vault'), Type.Literal('dev-file')], { default: 'vault' }),
  AOETL_DEV_SECRETS_ENABLE: Type.Boolean({ default: false }),
  AOETL_DEV_SECRETS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Base64 of 32 random bytes. */
  AOETL_DEV_SECRETS_KEY: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_DB_CA_FILE: Path,
  AOETL_SANDBOX_IMAGE: Type.String({ minLength: 1 }),
  AOETL_SANDBOX_RUNTIME: Type.Union([Type.Literal('runc'), Type.Literal('runsc')], { default: 'runsc' }),
  /** runc is refused unless this is true (development only; the agent warns loudly at start). */
  AOETL_SANDBOX_ALLOW_RUNC: Type.Boolean({ default: false }),
  /** Docker's init process as PID 1 of each sandbox (gVisor only; refused with runc). */
  AOETL_SANDBOX_INIT: Type.Boolean({ default: false }),
  /** Refuse to start unless the Docker engine remaps user namespaces (daemon userns-remap or rootless); else a warning. */
  AOETL_SANDBOX_REQUIRE_USERNS: Type.Boolean({ default: false }),
  /** docker: a Docker engine (remote over TLS, or the local socket); kubernetes: one pod per run in AOETL_SANDBOX_NAMESPACE. */
  AOETL_SANDBOX_DRIVER: Type.Union([Type.Literal('docker'), Type.Literal('kubernetes')], { default: 'docker' }),
  AOETL_SANDBOX_NAMESPACE: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_SANDBOX_RUNTIME_CLASS: Type.Optional(Type.String({ minLength: 1 })),
  /** Warm sandbox containers kept ready (each serves one run). */
  AOETL_SANDBOX_POOL_SIZE: Type.Integer({ minimum: 0, maximum: 64, default: 2 }),
  /** Default sandbox memory; runs asking for exactly this can use the warm pool. */
  AOETL_SANDBOX_MEMORY_MB: Type.Integer({ minimum: 64, maximum: 16_384, default: 512 }),
  /** Local development only: the engine's unix socket (unused when AOETL_DOCKER_HOST is set). */
  AOETL_DOCKER_SOCKET: Type.String({ default: '/var/run/docker.sock' }),
  /** A remote Docker engine over TLS with a client certificate: tcp://host:port or https://host:port (needs the three files below). */
  AOETL_DOCKER_HOST: Type.Optional(Type.String({ pattern: '^(tcp|https)://[^/]+' })),
  AOETL_DOCKER_CA_FILE: Type.Optional(Path),
  AOETL_DOCKER_CERT_FILE: Type.Optional(Path),
  AOETL_DOCKER_KEY_FILE: Type.Optional(Path),
  /** Vault role templates a task's tenant may use (`database/creds/{tenant}-*`; empty: any), as the gateway's setting. */
  AOETL_TENANT_VAULT_ROLES: Type.String({ default: '' }),
  /** Database hosts per tenant (`tenant=host[:port]|host…;…`; empty: any), as the gateway's setting. */
  AOETL_TENANT_DB_HOSTS: Type.String({ default: '' }),
  /**
   * Vault-side tenant scope: the token role that mints each task's tenant a child token holding only the policy
   * AOETL_VAULT_TENANT_POLICY, so Vault refuses another tenant's role even past the static check. Empty: off.
   */
  AOETL_VAULT_TENANT_TOKEN_ROLE: Type.String({ pattern: '^([a-z0-9][a-z0-9_-]{0,100})?$', default: '' }),
  AOETL_VAULT_TENANT_POLICY: Type.String({ pattern: '^[a-z0-9_{}-]*[{]tenant[}][a-z0-9_{}-]*$', default: 'aoetl-tenant-{tenant}' }),
  AOETL_TASK_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
  AOETL_HEARTBEAT_MS: Type.Integer({ minimum: 500, default: 5000 }),
  /** In Kubernetes (downward API): this agent's pod, named in its heartbeat so that a quarantine can label and delete it. */
  AOETL_POD_NAME: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][-A-Za-z0-9.]{0,252}$' })),
  AOETL_POD_NAMESPACE: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][-A-Za-z0-9]{0,62}$' })),
});
export type EtlAgentConfig = Static<typeof EtlAgentConfig>;

/**
 * Where the docker sandbox driver finds its engine: the remote daemon over TLS when AOETL_DOCKER_HOST is
 * set (then its CA, client certificate and key files are required), else the local socket.
 */
export function dockerEngineFrom(
  config: EtlAgentConfig,
): { socketPath: string; remote?: DockerRemoteTls } {
  const host = config.AOETL_DOCKER_HOST;
  if (!host) return { socketPath: config.AOETL_DOCKER_SOCKET };
  const { AOETL_DOCKER_CA_FILE: caFile, AOETL_DOCKER_CERT_FILE: certFile, AOETL_DOCKER_KEY_FILE: keyFile } = config;
  if (!caFile || !certFile || !keyFile) {
    const missing = (['AOETL_DOCKER_CA_FILE', 'AOETL_DOCKER_CERT_FILE', 'AOETL_DOCKER_KEY_FILE'] as const).filter((k) => !config[k]);
    throw new ConfigError(`invalid configuration: AOETL_DOCKER_HOST=${host} needs ${missing.join(', ')} (TLS with a client certificate)`);
  }
  return { socketPath: config.AOETL_DOCKER_SOCKET, remote: { host, caFile, certFile, keyFile } };
}

const MiB = 1024 * 1024;

/** The sandbox driver the configuration asks for, with its options (read from the validated config only). */
export type SandboxSettings =
  | {
      driver: 'docker';
      image: string;
      runtime: 'runc' | 'runsc';
      allowRunc: boolean;
      init: boolean;
      requireUserns: boolean;
      socketPath: string;
      remote?: DockerRemoteTls;
      poolSize: number;
      memoryBytes: number;
    }
  | { driver: 'kubernetes'; image: string; namespace: string; runtimeClassName?: string; memoryBytes: number };

/** The sandbox settings; names the missing variable when the chosen driver needs one that is absent. */
export function sandboxSettings(config: EtlAgentConfig): SandboxSettings {
  const memoryBytes = config.AOETL_SANDBOX_MEMORY_MB * MiB;
  if (config.AOETL_SANDBOX_DRIVER === 'kubernetes') {
    if (!config.AOETL_SANDBOX_NAMESPACE) {
      throw new ConfigError('invalid configuration: AOETL_SANDBOX_DRIVER=kubernetes needs AOETL_SANDBOX_NAMESPACE');
    }
    return {
      driver: 'kubernetes',
      image: config.AOETL_SANDBOX_IMAGE,
      namespace: config.AOETL_SANDBOX_NAMESPACE,
      ...(config.AOETL_SANDBOX_RUNTIME_CLASS ? { runtimeClassName: config.AOETL_SANDBOX_RUNTIME_CLASS } : {}),
      memoryBytes,
    };
  }
  return {
    driver: 'docker',
    image: config.AOETL_SANDBOX_IMAGE,
    runtime: config.AOETL_SANDBOX_RUNTIME,
    allowRunc: config.AOETL_SANDBOX_ALLOW_RUNC,
    init: config.AOETL_SANDBOX_INIT,
    requireUserns: config.AOETL_SANDBOX_REQUIRE_USERNS,
    ...dockerEngineFrom(config),
    poolSize: config.AOETL_SANDBOX_POOL_SIZE,
    memoryBytes,
  };
}
