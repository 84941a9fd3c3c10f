import { Client, escapeIdentifier } from 'pg';
import { DbError, DbErrorCode, sqlState } from './errors.js';

/** Database names this package creates: lower-case, so they never need quoting by hand in psql. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** `url` with its database replaced by `database`; user, password, host, port and parameters are kept. */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export interface CreateDatabaseResult {
  /** URL of the new (or existing) database, built from the admin URL. */
  readonly url: string;
  /** False when `ifNotExists` found the database already there. */
  readonly created: boolean;
}

/**
 * Creates database `name` on the server that `adminUrl` points at (connecting to the admin URL's
 * own database, usually `postgres`).
 *
 * @example
 * ```ts
 * const { url } = await createDatabase('postgres://postgres:pw@127.0.0.1:5432/postgres', 'fleet', { ifNotExists: true });
 * ```
 */
export async function createDatabase(
  adminUrl: string,
  name: string,
  options: { ifNotExists?: boolean } = {},
): Promise<CreateDatabaseResult> {
  assertDatabaseName(name);
  return withAdminClient(adminUrl, async (client) => {
    if (options.ifNotExists === true) {
      const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (existing.rowCount !== 0) return { url: databaseUrl(adminUrl, name), created: false };
    }
    try {
      await client.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
    } catch (error) {
      // 42P04 duplicate_database: a concurrent caller created it between our check and our CREATE.
      if (options.ifNotExists === true && sqlState(error) === '42P04') {
        return { url: databaseUrl(adminUrl, name), created: false };
      }
      throw error;
    }
    return { url: databaseUrl(adminUrl, name), created: true };
  });
}

/**
 * Drops database `name` if it exists, disconnecting whoever is still connected to it
 * (`WITH (FORCE)`, PostgreSQL 13+).
 */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  await withAdminClient(adminUrl, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`),
  );
}

function assertDatabaseName(name: string): void {
  if (!DATABASE_NAME.test(name)) {
    throw new DbError(
      DbErrorCode.INVALID_CONFIG,
      `database name ${JSON.stringify(name)} must match ${DATABASE_NAME.source}`,
    );
  }
}

async function withAdminClient<T>(adminUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
