export * from './dead-letter.js';
export * from './partitioner.js';
export * from './topics.js';
