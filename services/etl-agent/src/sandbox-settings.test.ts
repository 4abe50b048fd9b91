import { loadConfig } from '@aoetl/config';
import { ConfigError } from '@aoetl/contracts';
import { EtlAgentConfig, sandboxSettings } from './config';

/** The variables the local stack writes to .state/env/etl-agent.env (values of secrets made up). */
const STACK_ENV = `
AOETL_LOG_LEVEL=info
AOETL_HTTP_HOST=127.0.0.1
AOETL_HTTP_PORT=9103
AOETL_METRICS_PORT=9103
AOETL_REDIS_URL=rediss://127.0.0.1:6390
AOETL_TLS_CA_FILE=/state/certs/ca.crt
AOETL_TLS_CERT_FILE=/state/certs/etl-agent.crt
AOETL_TLS_KEY_FILE=/state/certs/etl-agent.key
AOETL_SANDBOX_RUNTIME=runsc
AOETL_DOCKER_SOCKET=/var/run/docker.sock
AOETL_DB_CA_FILE=/state/certs/ca.crt
AOETL_REDIS_USERNAME=etl-agent
AOETL_REDIS_PASSWORD=redis-password-1
AOETL_VAULT_ADDR=https://127.0.0.1:8200
AOETL_VAULT_CACERT=/state/certs/ca.crt
AOETL_VAULT_AUTH=approle
AOETL_VAULT_ROLE_ID=role-id-1
AOETL_VAULT_SECRET_ID=secret-id-1
AOETL_SANDBOX_IMAGE=aoetl/sandbox-python:8fe0588d7021
AOETL_CONSUMER_NAME=etl-agent-1
`;

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('=') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('etl-agent configuration', () => {
  test('the env file the stack writes loads, and asks for the Docker sandbox with gVisor and a warm pool', () => {
    const config = loadConfig(EtlAgentConfig, parseEnv(STACK_ENV));
    expect(sandboxSettings(config)).toEqual({
      driver: 'docker',
      allowRunc: false,
      init: false,
      requireUserns: false,
      image: 'aoetl/sandbox-python:8fe0588d7021',
      runtime: 'runsc',
      socketPath: '/var/run/docker.sock',
      poolSize: 2,
      memoryBytes: 512 * 1024 * 1024,
    });
  });

  test('the Kubernetes driver takes its namespace and RuntimeClass from the schema', () => {
    const env = { ...parseEnv(STACK_ENV), AOETL_SANDBOX_DRIVER: 'kubernetes', AOETL_SANDBOX_NAMESPACE: 'aoetl-sandbox', AOETL_SANDBOX_MEMORY_MB: '256' };
    expect(sandboxSettings(loadConfig(EtlAgentConfig, env))).toEqual({
      driver: 'kubernetes',
      image: 'aoetl/sandbox-python:8fe0588d7021',
      namespace: 'aoetl-sandbox',
      memoryBytes: 256 * 1024 * 1024,
    });
    expect(sandboxSettings(loadConfig(EtlAgentConfig, { ...env, AOETL_SANDBOX_RUNTIME_CLASS: 'gvisor' }))).toMatchObject({ runtimeClassName: 'gvisor' });
  });

  test('the Kubernetes driver without a namespace is a config error naming the variable', () => {
    const config = loadConfig(EtlAgentConfig, { ...parseEnv(STACK_ENV), AOETL_SANDBOX_DRIVER: 'kubernetes' });
    expect(() => sandboxSettings(config)).toThrow(ConfigError);
    expect(() => sandboxSettings(config)).toThrow(/AOETL_SANDBOX_DRIVER=kubernetes needs AOETL_SANDBOX_NAMESPACE/);
  });

  test('a bad sandbox setting is named with the others at load', () => {
    const env = { ...parseEnv(STACK_ENV), AOETL_SANDBOX_RUNTIME: 'kata', AOETL_SANDBOX_POOL_SIZE: '99' };
    expect(() => loadConfig(EtlAgentConfig, env)).toThrow(/AOETL_SANDBOX_RUNTIME.*AOETL_SANDBOX_POOL_SIZE|AOETL_SANDBOX_POOL_SIZE.*AOETL_SANDBOX_RUNTIME/);
  });
});
