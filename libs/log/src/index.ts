export * from './log.js';
export * from './errors.js';
export * from './group.js';
export { choosePartition } from './partitioning.js';
export * from './kafka/index.js';
export * from './file/index.js';
