/**
 * Where this package's integration tests get PostgreSQL. These tests cannot import @fleet/testing
 * (that package depends on @fleet/db, and TypeScript project references cannot form a cycle), so
 * this is the small subset of libs/testing/src/postgres.ts they need, built on this package's own
 * API:
 * - the server: the run's shared one (`inject('databaseUrl')`, from the integration global setup),
 *   else `DATABASE_URL`, else an embedded server started for this file (real binaries);
 * - a fresh, uniquely named database per suite (createDatabase/dropDatabase from src/admin.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createDatabase, dropDatabase } from '../src/admin.js';
import { startEmbeddedPostgres } from '../src/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export interface TestServer {
  readonly adminUrl: string;
  /** Creates a fresh database on this server; `drop` removes it. */
  database(prefix: string): Promise<{ url: string; name: string; drop(): Promise<void> }>;
  stop(): Promise<void>;
}

export async function testServer(): Promise<TestServer> {
  const shared = inject('databaseUrl') as string | undefined;
  const external = process.env['DATABASE_URL'];
  if (shared !== undefined && shared !== '') return server(shared, async () => undefined);
  if (external !== undefined && external !== '') return server(external, async () => undefined);

  const dataDir = await mkdtemp(join(tmpdir(), 'fleet-db-test-'));
  try {
    const pg = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    return server(pg.url, async () => {
      await pg.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

function server(adminUrl: string, stop: () => Promise<void>): TestServer {
  return {
    adminUrl,
    stop,
    async database(prefix) {
      const name = `t_${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
      const { url } = await createDatabase(adminUrl, name);
      return { url, name, drop: () => dropDatabase(adminUrl, name) };
    },
  };
}
