export * from './errors.js';
export * from './validate.js';
export * from './streams.js';
export * from './pipeline.js';
export * from './messages.js';
export * from './envelope.js';
export * from './trace-context.js';
