/**
 * A small forward-only migration runner.
 *
 * Convention (folder `libs/db/migrations/`):
 * - `NNNN_name.sql`           applied on every database, in version order;
 * - `NNNN_name.timescale.sql` its TimescaleDB companion, applied right after `NNNN_name.sql` and
 *                             only when the server offers the extension (after
 *                             `CREATE EXTENSION IF NOT EXISTS timescaledb`). Both variants must
 *                             leave the same tables and keys, so queries never branch on it.
 *
 * Each file runs in its own transaction together with its row in `schema_migrations`, so a file is
 * either applied and recorded or neither. A session-level advisory lock serialises concurrent
 * runners (several stream instances starting at once); advisory locks are per database, so tests
 * migrating their own databases in parallel do not wait on each other. A file's checksum is recorded;
 * editing an applied file is an error naming it, because the database would no longer match the
 * files. A companion skipped because the extension was missing stays pending and is applied on a
 * later run once the extension exists, so companions must work on a table that already holds rows
 * (e.g. `create_hypertable(..., migrate_data => TRUE)`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientBase, Pool, PoolClient } from 'pg';
import { migrationChannel, type MigrationEvent } from './diagnostics.js';
import { DbError, DbErrorCode, sqlState } from './errors.js';

const FILE_NAME = /^(\d{4})_([a-z0-9_]+?)(\.timescale)?\.sql$/;

/**
 * Key of the advisory lock held while migrating: the ASCII bytes of "fleetmig" read as a signed
 * 64-bit integer, so it is unlikely to collide with another tool's lock in the same database.
 */
export const MIGRATION_LOCK_KEY = '7380385375772830055';

export interface MigrationFile {
  /** The file name, e.g. `0001_telemetry_samples.timescale.sql`; the key in `schema_migrations`. */
  readonly name: string;
  readonly version: number;
  /** True for a `.timescale.sql` companion. */
  readonly timescale: boolean;
  readonly sql: string;
  /** SHA-256 of the file with CRLF normalised to LF, hex. */
  readonly checksum: string;
}

export interface MigrateOptions {
  /** Folder of migration files; defaults to this package's `migrations/`. */
  readonly dir?: string;
  /** Apply the `.timescale.sql` companions; defaults to {@link hasTimescale}. */
  readonly timescale?: boolean;
}

export interface MigrateResult {
  /** Files applied by this run, in order. */
  readonly applied: readonly string[];
  /** Files that were already recorded (checksums verified). */
  readonly alreadyApplied: readonly string[];
  /** Companions left pending because TimescaleDB is not available. */
  readonly skippedTimescale: readonly string[];
  /** Recorded in `schema_migrations` but not in the folder: the database is newer than this code. */
  readonly unknownApplied: readonly string[];
  readonly timescale: boolean;
}

/** The folder of migrations shipped with this package (`libs/db/migrations`), from source or from `dist/`. */
export function defaultMigrationsDir(): string {
  for (const relative of ['../migrations', '../../migrations']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(join(dir, '0001_telemetry_samples.sql'))) return dir;
  }
  throw new DbError(
    DbErrorCode.MIGRATION_INVALID,
    `cannot find the migrations folder of @fleet/db next to ${import.meta.url}`,
  );
}

/** Reads and validates the migration files of `dir`, in the order they apply. Other files than `*.sql` are ignored. */
export async function loadMigrations(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql'));
  const files: MigrationFile[] = [];
  for (const name of names) {
    const match = FILE_NAME.exec(name);
    if (match === null) {
      throw new DbError(
        DbErrorCode.MIGRATION_INVALID,
        `migration file ${name} in ${dir} must be named NNNN_name.sql or NNNN_name.timescale.sql (lower-case name)`,
        { file: name },
      );
    }
    const sql = (await readFile(join(dir, name), 'utf8')).replace(/\r\n/g, '\n');
    files.push({
      name,
      version: Number(match[1]),
      timescale: match[3] !== undefined,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  files.sort((a, b) => a.version - b.version || Number(a.timescale) - Number(b.timescale));

  const bases = new Map<number, MigrationFile>();
  for (const file of files.filter((f) => !f.timescale)) {
    const other = bases.get(file.version);
    if (other !== undefined) {
      throw new DbError(
        DbErrorCode.MIGRATION_INVALID,
        `migrations ${other.name} and ${file.name} share version ${file.version}`,
        {
          file: file.name,
        },
      );
    }
    bases.set(file.version, file);
  }
  for (const file of files.filter((f) => f.timescale)) {
    const expectedBase = file.name.replace(/\.timescale\.sql$/, '.sql');
    if (bases.get(file.version)?.name !== expectedBase) {
      throw new DbError(
        DbErrorCode.MIGRATION_INVALID,
        `timescale companion ${file.name} has no base migration ${expectedBase}`,
        {
          file: file.name,
        },
      );
    }
  }
  return files;
}

/** Whether the server can load TimescaleDB (`pg_available_extensions`), installed in this database or not. */
export async function hasTimescale(db: Pool | ClientBase): Promise<boolean> {
  const { rowCount } = await db.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'");
  return rowCount !== null && rowCount > 0;
}

interface AppliedRow {
  name: string;
  checksum: string;
}

/**
 * Applies the pending migrations of `options.dir` (default: this package's) to the database of
 * `pool`. Safe to call from every instance at start-up: concurrent calls serialise on an advisory
 * lock, and a call with nothing pending only verifies checksums.
 *
 * @example
 * ```ts
 * const pool = createPool({ url });
 * const { applied, timescale } = await migrate(pool);
 * ```
 */
export async function migrate(pool: Pool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const files = await loadMigrations(options.dir ?? defaultMigrationsDir());
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await migrateLocked(client, files, options);
    } finally {
      try {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      } catch (error) {
        // Closing the connection releases the lock on the server.
        broken = error instanceof Error ? error : new Error(String(error));
      }
    }
  } finally {
    client.release(broken);
  }
}

async function migrateLocked(
  client: PoolClient,
  files: readonly MigrationFile[],
  options: MigrateOptions,
): Promise<MigrateResult> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
  )`);
  const { rows } = await client.query<AppliedRow>('SELECT name, checksum FROM schema_migrations');
  const applied = new Map(rows.map((r) => [r.name, r.checksum]));

  const mismatched = files.filter((f) => applied.has(f.name) && applied.get(f.name) !== f.checksum);
  if (mismatched.length > 0) {
    const list = mismatched.map((f) => f.name).join(', ');
    throw new DbError(
      DbErrorCode.MIGRATION_CHECKSUM_MISMATCH,
      `migration ${list} was changed after it was applied (checksum differs from schema_migrations); add a new migration instead of editing an applied one`,
      { files: mismatched.map((f) => f.name) },
    );
  }

  const known = new Set(files.map((f) => f.name));
  const highestApplied = Math.max(
    -1,
    ...files.filter((f) => !f.timescale && applied.has(f.name)).map((f) => f.version),
  );
  const late = files.filter((f) => !f.timescale && !applied.has(f.name) && f.version < highestApplied);
  if (late.length > 0) {
    throw new DbError(
      DbErrorCode.MIGRATION_OUT_OF_ORDER,
      `migration ${late.map((f) => f.name).join(', ')} is pending but a later version is already applied; renumber it after ${String(highestApplied).padStart(4, '0')}`,
      { files: late.map((f) => f.name) },
    );
  }

  const timescale = options.timescale ?? (await hasTimescale(client));
  const result = {
    applied: [] as string[],
    alreadyApplied: [] as string[],
    skippedTimescale: [] as string[],
    unknownApplied: [...applied.keys()].filter((name) => !known.has(name)).sort(),
    timescale,
  };
  let extensionCreated = false;
  for (const file of files) {
    if (applied.has(file.name)) {
      result.alreadyApplied.push(file.name);
      continue;
    }
    if (file.timescale && !timescale) {
      result.skippedTimescale.push(file.name);
      publish({ name: file.name, action: 'skipped-timescale', durationMs: 0 });
      continue;
    }
    if (file.timescale && !extensionCreated) {
      await runStep(client, file.name, 'CREATE EXTENSION IF NOT EXISTS timescaledb');
      extensionCreated = true;
    }
    const started = performance.now();
    await client.query('BEGIN');
    try {
      await client.query(file.sql);
      const durationMs = Math.round(performance.now() - started);
      await client.query('INSERT INTO schema_migrations (name, checksum, duration_ms) VALUES ($1, $2, $3)', [
        file.name,
        file.checksum,
        durationMs,
      ]);
      await client.query('COMMIT');
      result.applied.push(file.name);
      publish({ name: file.name, action: 'applied', durationMs });
    } catch (error) {
      // If ROLLBACK fails too the connection is gone; the unlock then fails and the client is destroyed.
      await client.query('ROLLBACK').catch(() => undefined);
      throw migrationFailed(file.name, error);
    }
  }
  return result;
}

async function runStep(client: PoolClient, fileName: string, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (error) {
    throw migrationFailed(fileName, error, `${sql} failed before ${fileName}`);
  }
}

function migrationFailed(
  fileName: string,
  error: unknown,
  prefix = `migration ${fileName} failed and was rolled back`,
): DbError {
  const message = error instanceof Error ? error.message : String(error);
  const code = sqlState(error);
  // SQLSTATE class 08 is a connection failure: the same file may well apply on the next attempt.
  const retriable = code === undefined || code.startsWith('08') || code.startsWith('57P');
  return new DbError(
    DbErrorCode.MIGRATION_FAILED,
    `${prefix}: ${message}`,
    { file: fileName, sqlState: code },
    { cause: error, retriable },
  );
}

function publish(event: MigrationEvent): void {
  if (migrationChannel.hasSubscribers) migrationChannel.publish(event);
}
