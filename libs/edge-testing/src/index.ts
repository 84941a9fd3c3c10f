export * from '@fleet/pty';
export * from './mosquitto.js';
