export { connectRedis, redisSettings, type RedisConnectionConfig, type RedisEnvConfig } from './redis.js';
export { Bus, backoffMs, sleep, type ConsumeOptions } from './bus.js';
export { trimAcknowledged, safeTrimId, compareIds } from './trim.js';
