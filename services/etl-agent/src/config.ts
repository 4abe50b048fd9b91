import { Type, type Static } from '@sinclair/typebox';
import { CommonConfig, Path, Secret } from '@aoetl/config';

export const EtlAgentConfig = Type.Object({
  ...CommonConfig,
  AOETL_CONSUMER_NAME: Type.String({ minLength: 1, default: `etl-agent-${process.pid}` }),
  AOETL_VAULT_ADDR: Type.String({ pattern: '^https://' }),
  AOETL_VAULT_CACERT: Path,
  AOETL_VAULT_AUTH: Type.Union([Type.Literal('approle'), Type.Literal('token'), Type.Literal('kubernetes')], { default: 'approle' }),
  AOETL_VAULT_ROLE_ID: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_VAULT_SECRET_ID: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_VAULT_TOKEN: Type.Optional(Secret(Type.String({ minLength: 1 }))),
  AOETL_VAULT_K8S_ROLE: Type.Optional(Type.String({ minLength: 1 })),
  AOETL_VAULT_K8S_JWT_FILE: Type.String({ default: '/var/run/secrets/kubernetes.io/serviceaccount/token' }),
  AOETL_DB_CA_FILE: Path,
  AOETL_SANDBOX_IMAGE: Type.String({ minLength: 1 }),
  AOETL_SANDBOX_RUNTIME: Type.Union([Type.Literal('runc'), Type.Literal('runsc')], { default: 'runsc' }),
  AOETL_DOCKER_SOCKET: Type.String({ default: '/var/run/docker.sock' }),
  AOETL_TASK_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
  AOETL_HEARTBEAT_MS: Type.Integer({ minimum: 500, default: 5000 }),
});
export type EtlAgentConfig = Static<typeof EtlAgentConfig>;
