export * from './connection.js';
export * from './port.js';
export * from './reader.js';
export * from './resume.js';
