/**
 * Unit tier, on real files: the file-backed log in a fresh temporary directory runs the shared Log
 * contract suite (log-suite.ts) that the Kafka log passes against the real broker. Nothing is
 * stubbed; the files are written, fsynced and read back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog } from '../src/index.js';
import { logSuite } from './log-suite.js';

let dir = '';
let counter = 0;

logSuite('file-backed log (real files)', {
  create: async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleet-file-log-suite-'));
    return createFileLog({ dir });
  },
  topicName: (base) => `suite.${base}.${++counter}`,
  cleanup: () => rm(dir, { recursive: true, force: true }),
});
