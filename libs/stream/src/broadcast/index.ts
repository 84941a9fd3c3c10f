/** Broadcast state from compacted topics (robot metadata), read by every keyed operator. */
export * from './diagnostics.js';
export * from './state.js';
