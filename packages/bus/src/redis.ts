import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import Redis from 'ioredis';
import { backoffMs } from '@aoetl/timing';

export interface RedisConnectionConfig {
  url: string;
  username: string;
  password: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * One ioredis connection over mutual TLS as the service's own ACL user. INFO is not granted to service users,
 * so the ready check (which runs INFO) is off.
 */
export function connectRedis(cfg: RedisConnectionConfig): Redis {
  const url = new URL(cfg.url);
  if (url.protocol !== 'rediss:') throw new Error('Redis URL must use rediss:// (TLS)');
  return new Redis({
    host: url.hostname,
    port: Number(url.port || 6379),
    username: cfg.username,
    password: cfg.password,
    enableReadyCheck: false,
    lazyConnect: false,
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => backoffMs(times, 200, 5000),
    tls: {
      ca: readFileSync(cfg.caFile),
      cert: readFileSync(cfg.certFile),
      key: readFileSync(cfg.keyFile),
      // SNI only for names; certificates are still checked against the IP (its SAN).
      ...(isIP(url.hostname) ? {} : { servername: url.hostname }),
    },
  });
}

/** The Redis settings every service reads from its environment (see @aoetl/config CommonConfig). */
export interface RedisEnvConfig {
  AOETL_REDIS_URL: string;
  AOETL_REDIS_USERNAME: string;
  AOETL_REDIS_PASSWORD: string;
  AOETL_TLS_CA_FILE: string;
  AOETL_TLS_CERT_FILE: string;
  AOETL_TLS_KEY_FILE: string;
}

export function redisSettings(config: RedisEnvConfig): RedisConnectionConfig {
  return {
    url: config.AOETL_REDIS_URL,
    username: config.AOETL_REDIS_USERNAME,
    password: config.AOETL_REDIS_PASSWORD,
    caFile: config.AOETL_TLS_CA_FILE,
    certFile: config.AOETL_TLS_CERT_FILE,
    keyFile: config.AOETL_TLS_KEY_FILE,
  };
}
