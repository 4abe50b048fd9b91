export { connectRedis, type RedisConnectionConfig } from './redis.js';
export { Bus, backoffMs, sleep, type ConsumeOptions } from './bus.js';
export { trimAcknowledged, safeTrimId, compareIds } from './trim.js';
