export * from './mqtt-client.js';
export * from './presence.js';
export * from './publisher.js';
export * from './session.js';
export * from './tls.js';
