export { connectRedis, redisSettings, type RedisConnectionConfig, type RedisEnvConfig } from './redis.js';
export { Bus, type ConsumeOptions } from './bus.js';
export { trimAcknowledged, safeTrimId, compareIds } from './trim.js';
export { StreamAdmin, type GroupStats, type StreamEntry, type StreamStats, type StreamTrimmer } from './admin.js';
export {
  deadLetterFields,
  isReplayable,
  parseDeadLetter,
  REPLAYABLE_STREAMS,
  STREAM_ID_PATTERN,
  type DeadLetter,
  type DeadLetterStore,
  type ReplayOutcome,
} from './dead-letters.js';
export { busPreviewSandbox, PREVIEW_LIMITS, type BusPreviewOptions, type PreviewSandbox } from './preview-client.js';
export { RedisAccessControl } from './access-control.js';
