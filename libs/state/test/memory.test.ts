// Unit: the in-memory backend against the shared backend suite (nothing external).
import { createMemoryBackend } from '../src/index.js';
import { backendSuite } from './backend-suite.js';

backendSuite('memory', {
  create: async () => ({ backend: createMemoryBackend(), cleanup: async () => {} }),
  propertyRuns: 300,
});
