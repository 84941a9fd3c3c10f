export * from './admin.js';
export * from './diagnostics.js';
export * from './embedded.js';
export * from './errors.js';
export * from './migrations.js';
export * from './pool.js';
export * from './telemetry-samples.js';
