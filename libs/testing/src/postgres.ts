/**
 * PostgreSQL for the integration tier: one real server per test run, one fresh database per suite.
 *
 * - `startTestPostgres()` is called ONCE per run by the global setup. With `DATABASE_URL` set it
 *   uses that server (after checking it answers); otherwise it starts an embedded server
 *   (`@fleet/db` startEmbeddedPostgres: real PostgreSQL binaries) in a fresh directory under
 *   os.tmpdir(), as an ephemeral cluster (no fsync), and removes that directory on stop.
 * - `createTestDatabase(adminUrl, prefix)` gives a suite its own database, so suites running in
 *   parallel never share tables, and drops it (disconnecting stragglers) when the suite is done.
 *
 * Failing to start THROWS: integration tests never skip.
 *
 * @example
 *   // global setup
 *   const pg = await startTestPostgres();
 *   project.provide('databaseUrl', pg.url);
 *   // a suite
 *   let db: TestDatabase;
 *   beforeAll(async () => { db = await createTestDatabase(inject('databaseUrl'), 'checkpoints'); });
 *   afterAll(() => db.drop());
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, dropDatabase, startEmbeddedPostgres } from '@fleet/db';
import { Client } from 'pg';
import type {} from './postgres-context.js';

export interface TestPostgres {
  /** Superuser URL of the server's `postgres` database; hand it to `createTestDatabase`. */
  readonly url: string;
  /** One line for the run's log: which server, and how long it took to start. */
  readonly description: string;
  /** Stops the embedded server and removes its directory; a no-op for `DATABASE_URL`. */
  stop(): Promise<void>;
}

/** Every suite opens its own pools, and several test files run at once. */
const TEST_SETTINGS: Readonly<Record<string, string>> = { max_connections: '300' };

export async function startTestPostgres(env: NodeJS.ProcessEnv = process.env): Promise<TestPostgres> {
  const external = env['DATABASE_URL'];
  if (external !== undefined && external !== '') {
    await probe(external).catch((error: unknown) => {
      throw new Error(
        `DATABASE_URL=${redact(external)} is set but does not answer: ${(error as Error).message}`,
        { cause: error },
      );
    });
    return {
      url: external,
      description: `PostgreSQL at ${redact(external)} (DATABASE_URL)`,
      stop: async () => undefined,
    };
  }

  // mkdtemp makes the directory 0700 for root; startEmbeddedPostgres hands it to the server user.
  const dataDir = await mkdtemp(join(tmpdir(), 'fleet-pg-'));
  try {
    const server = await startEmbeddedPostgres({ dataDir, ephemeral: true, settings: TEST_SETTINGS });
    return {
      url: server.url,
      description:
        `embedded PostgreSQL on 127.0.0.1:${server.port} (data ${dataDir}; ` +
        `initdb ${server.timings.initMs} ms, start ${server.timings.startMs} ms)`,
      stop: async () => {
        try {
          await server.stop();
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(
      `Could not start an embedded PostgreSQL for the tests (set DATABASE_URL to use an existing server): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

export interface TestDatabase {
  /** URL of the new database (same server and credentials as the admin URL). */
  readonly url: string;
  readonly name: string;
  /** Drops the database, disconnecting whoever is still connected. */
  drop(): Promise<void>;
}

/** A fresh, uniquely named database for one suite, e.g. `t_migrations_4821_9f3a1c0b`. */
export async function createTestDatabase(adminUrl: string, prefix: string): Promise<TestDatabase> {
  const name = testDatabaseName(prefix);
  const { url } = await createDatabase(adminUrl, name);
  return { url, name, drop: () => dropDatabase(adminUrl, name) };
}

/** `t_<prefix>_<pid>_<random>`: lower-case, at most 63 bytes, unique across parallel workers. */
export function testDatabaseName(prefix: string): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 32) || 'db';
  return `t_${clean}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

async function probe(url: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The URL without its password, for messages and logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}
