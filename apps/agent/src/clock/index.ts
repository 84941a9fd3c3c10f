export * from './clock.js';
export * from './event-time.js';
export * from './gateway-sync.js';
export * from './robot-clock.js';
