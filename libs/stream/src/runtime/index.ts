/**
 * The stream runtime's I/O layer: checkpoints in PostgreSQL with epoch fencing, lease membership,
 * and the instance runner that drives partition tasks from a Log (Kafka or the file log).
 */
export * from './checkpoint-store.js';
export * from './diagnostics.js';
export * from './errors.js';
export * from './instance.js';
export * from './membership.js';
