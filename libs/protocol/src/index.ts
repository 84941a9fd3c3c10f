export * from './errors.js';
export * from './messages.js';
export * from './limits.js';
export * from './batch/index.js';
export * from './binary/index.js';
export * from './json.js';
export * from './mqtt/index.js';
export * from './kafka/index.js';
