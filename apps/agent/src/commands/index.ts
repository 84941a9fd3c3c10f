export * from './handler.js';
export * from './pending.js';
