export * from './ageing.js';
export * from './battery.js';
export * from './dirt.js';
export * from './motion.js';
export * from './ocv.js';
export * from './power.js';
export * from './site.js';
