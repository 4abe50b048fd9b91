import { loadConfig } from '@aoetl/config';
import { ConfigError } from '@aoetl/contracts';
import { EtlAgentConfig, dockerEngineFrom } from './config.js';

const base = {
  AOETL_METRICS_PORT: '9103',
  AOETL_REDIS_URL: 'rediss://127.0.0.1:6390',
  AOETL_REDIS_USERNAME: 'etl-agent',
  AOETL_REDIS_PASSWORD: 'pw',
  AOETL_TLS_CA_FILE: '/c/ca.crt',
  AOETL_TLS_CERT_FILE: '/c/etl-agent.crt',
  AOETL_TLS_KEY_FILE: '/c/etl-agent.key',
  AOETL_VAULT_ADDR: 'https://vault:8200',
  AOETL_VAULT_CACERT: '/c/ca.crt',
  AOETL_DB_CA_FILE: '/c/ca.crt',
  AOETL_SANDBOX_IMAGE: 'aoetl/sandbox-python:1',
};
const tls = { AOETL_DOCKER_CA_FILE: '/d/ca.pem', AOETL_DOCKER_CERT_FILE: '/d/cert.pem', AOETL_DOCKER_KEY_FILE: '/d/key.pem' };

describe('dockerEngineFrom', () => {
  it('uses the local socket without AOETL_DOCKER_HOST', () => {
    expect(dockerEngineFrom(loadConfig(EtlAgentConfig, { ...base, AOETL_DOCKER_SOCKET: '/run/d.sock' }))).toEqual({ socketPath: '/run/d.sock' });
  });

  it('uses the remote daemon with its TLS files when AOETL_DOCKER_HOST is set', () => {
    const config = loadConfig(EtlAgentConfig, { ...base, ...tls, AOETL_DOCKER_HOST: 'tcp://127.0.0.1:2376' });
    expect(dockerEngineFrom(config)).toEqual({
      socketPath: '/var/run/docker.sock',
      remote: { host: 'tcp://127.0.0.1:2376', caFile: '/d/ca.pem', certFile: '/d/cert.pem', keyFile: '/d/key.pem' },
    });
  });

  it('names the TLS files a remote daemon is missing', () => {
    const config = loadConfig(EtlAgentConfig, { ...base, AOETL_DOCKER_HOST: 'https://d:2376', AOETL_DOCKER_CA_FILE: '/d/ca.pem' });
    expect(() => dockerEngineFrom(config)).toThrow(ConfigError);
    expect(() => dockerEngineFrom(config)).toThrow('AOETL_DOCKER_HOST=https://d:2376 needs AOETL_DOCKER_CERT_FILE, AOETL_DOCKER_KEY_FILE');
  });

  it('refuses a Docker host that is not tcp:// or https://', () => {
    expect(() => loadConfig(EtlAgentConfig, { ...base, ...tls, AOETL_DOCKER_HOST: 'unix:///var/run/docker.sock' })).toThrow(/AOETL_DOCKER_HOST/);
  });
});
