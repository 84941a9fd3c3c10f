/**
 * @fleet/stream-runtime: the core of the stream runtime — event time and watermarks, timers, the
 * keyed process API, windows, the partition task the runtime drives, and a test driver.
 * Semantics and an example job: libs/stream/README.md.
 */
export * from './errors.js';
export * from './broadcast/index.js';
export * from './job.js';
export * from './operators/api.js';
export * from './operators/cep.js';
export * from './task/outputs.js';
export * from './task/partition-task.js';
export {
  DEFAULT_EVENT_TIME,
  eventTimeConfig,
  NO_TIME,
  type EventTimeConfig,
  type EventTimeOptions,
} from './time/config.js';
export type { WatermarkSnapshot } from './time/watermarks.js';
export type { TimeDomain, TimerSnapshot } from './timers/timer-service.js';
export * from './windows/operators.js';
export * from './windows/result.js';
export { windowSetCodec, type WindowSet } from './windows/window-set.js';
export * from './testing/driver.js';
export * from './testing/time.js';
export * from './cep/index.js';
export * from './runtime/index.js';
