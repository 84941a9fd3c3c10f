// Unit tier, real LevelDB: the classic-level backend against the shared backend suite, each backend
// on a real LevelDB in its own temporary directory. Tiny cache and flush sizes push every read
// through eviction, getSync and batch flushes rather than the cache alone.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLevelBackend, jsonCodec, type StateDescriptor } from '../src/index.js';
import { backendSuite } from './backend-suite.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'fleet-state-'));
}

backendSuite('level (tiny cache: every read from LevelDB)', {
  create: async () => {
    const dir = await tempDir();
    const options = { dir, cacheKeys: 2, flushKeys: 3 };
    return {
      backend: createLevelBackend(options),
      reopen: async () => createLevelBackend(options),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  propertyRuns: 60,
  persistent: true,
});

backendSuite('level (default cache)', {
  create: async () => {
    const dir = await tempDir();
    return {
      backend: createLevelBackend({ dir }),
      reopen: async () => createLevelBackend({ dir }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  propertyRuns: 30,
  persistent: true,
});

describe('level backend specifics', () => {
  const counter: StateDescriptor<number> = { name: 'counter', kind: 'value', codec: jsonCodec<number>() };

  it('serves prefetched keys from the cache and still reads un-prefetched keys', async () => {
    const dir = await tempDir();
    try {
      const a = await createLevelBackend({ dir }).open('job', 0);
      for (let i = 0; i < 100; i++) a.value(counter, `r${i}`).set(i);
      await a.close();
      const b = await createLevelBackend({ dir, cacheKeys: 10 }).open('job', 0);
      b.value(counter, 'x'); // registers the descriptor, as a job would before its first batch
      await b.prefetch(['r1', 'r2', 'missing']);
      expect(b.value(counter, 'r1').get()).toBe(1);
      expect(b.value(counter, 'r99').get()).toBe(99);
      expect(b.value(counter, 'missing').get()).toBeUndefined();
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('drop() removes the partition directory', async () => {
    const dir = await tempDir();
    try {
      const backend = createLevelBackend({ dir });
      const s = await backend.open('job', 4);
      s.value(counter, 'r1').set(1);
      await backend.drop('job', 4);
      const { readdir } = await import('node:fs/promises');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
