import { defineConfig } from 'vitest/config';

// One runner for the whole repository, in two tiers:
//  - unit:        pure code (codecs, windows, CEP) — `*.test.ts`
//  - integration: real Kafka broker and real PostgreSQL — `*.int.test.ts`. The global setup starts
//    both once per run (or uses KAFKA_BROKERS / DATABASE_URL) and FAILS the run if either cannot start.
// No 'import' condition here: Vitest hands these to workers as `--conditions`, and with 'import'
// Node's require() picks ESM builds (pg-pool) and `require('pg')` breaks.
const conditions = ['@fleet/source', 'node', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@fleet/source'] } },
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{libs,apps,firmware-sim}/**/test/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['{libs,apps,firmware-sim,e2e}/**/test/**/*.int.test.ts', 'scripts/**/*.int.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          globalSetup: ['libs/testing/src/global-setup.ts'],
          // One file at a time: these tests run real brokers, servers and processes, and on a
          // 2-core machine files running side by side starve each other's timing.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
