export * from './api.js';
export { float64ArrayCodec, float64Codec, jsonCodec, structCodec, type StructCodec } from './codecs.js';
export { createLevelBackend, type LevelBackendOptions } from './level.js';
export { createMemoryBackend } from './memory.js';
