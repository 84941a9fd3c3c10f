export * from './kafka-jars.js';
export * from './kafka-probe.js';
export * from './kafka-broker.js';
export * from './kafka-topics.js';
export type {} from './kafka-context.js';
export * from './postgres.js';
export type {} from './postgres-context.js';
