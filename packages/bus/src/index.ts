export { connectRedis, type RedisConnectionConfig } from './redis.js';
export { Bus, backoffMs, sleep, type ConsumeOptions } from './bus.js';
