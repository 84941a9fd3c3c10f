import { Pool } from 'pg';
import type { PoolClient } from 'pg';
import { poolErrorChannel, type PoolErrorEvent } from './diagnostics.js';
import { DbError, DbErrorCode } from './errors.js';

export interface PoolConfig {
  /** `postgres://user:password@host:port/database`. */
  readonly url: string;
  /** Most connections the pool opens at once; pg's default is 10. */
  readonly max?: number;
  /** Shown in `pg_stat_activity.application_name`, so an operator sees which instance holds what. */
  readonly applicationName?: string;
}

/**
 * A `pg.Pool` for one database.
 *
 * An idle connection that fails (server restart, network drop) is removed by pg and reported on
 * `DB_CHANNELS.poolError` instead of crashing the process; the next query opens a new one.
 *
 * @example
 * ```ts
 * const pool = createPool({ url: 'postgres://fleet:secret@127.0.0.1:5432/fleet', applicationName: 'stream-0' });
 * const { rows } = await pool.query<{ n: number }>('SELECT 1 AS n');
 * await pool.end();
 * ```
 */
export function createPool(config: PoolConfig): Pool {
  if (typeof config.url !== 'string' || config.url.trim() === '') {
    throw new DbError(DbErrorCode.INVALID_CONFIG, 'createPool: url must be a non-empty postgres:// URL');
  }
  if (config.max !== undefined && (!Number.isInteger(config.max) || config.max < 1)) {
    throw new DbError(
      DbErrorCode.INVALID_CONFIG,
      `createPool: max must be a positive integer, got ${config.max}`,
    );
  }
  const pool = new Pool({
    connectionString: config.url,
    ...(config.max === undefined ? {} : { max: config.max }),
    ...(config.applicationName === undefined ? {} : { application_name: config.applicationName }),
  });
  pool.on('error', (error) => {
    const event: PoolErrorEvent = { applicationName: config.applicationName, error };
    poolErrorChannel.publish(event);
  });
  return pool;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  /** Defaults to the server's `default_transaction_isolation` (read committed unless configured). */
  readonly isolation?: IsolationLevel;
}

const BEGIN: Readonly<Record<IsolationLevel, string>> = {
  'read committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
};

/**
 * Runs `fn` inside BEGIN ... COMMIT on one pooled connection and returns its result. If `fn`
 * throws, the transaction is rolled back and the error is rethrown unchanged.
 *
 * A statement that failed inside `fn` aborts the transaction even if `fn` caught the error; the
 * server then answers COMMIT with ROLLBACK and no error. That case throws
 * `DbErrorCode.TRANSACTION_ABORTED`, so a checkpoint can never believe it committed when it did not.
 * If the connection drops during COMMIT the outcome is unknown to the client: the error is thrown,
 * and callers make their writes idempotent (deterministic ids, epoch guard) so a retry is safe.
 *
 * @example
 * ```ts
 * await withTransaction(pool, async (client) => {
 *   await client.query('INSERT INTO outbox (id, body) VALUES ($1, $2)', [id, body]);
 *   await client.query('UPDATE offsets SET next_offset = $1 WHERE partition = $2', [next, partition]);
 * });
 * ```
 */
export async function withTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const client = await pool.connect();
  // Set when the connection's state is unknown; release(error) destroys it instead of pooling it.
  let broken: Error | undefined;
  try {
    try {
      await client.query(options.isolation === undefined ? 'BEGIN' : BEGIN[options.isolation]);
    } catch (error) {
      broken = asError(error);
      throw error;
    }
    let result: T;
    try {
      result = await fn(client);
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = asError(rollbackError);
      }
      throw error;
    }
    try {
      const commit = await client.query('COMMIT');
      if (commit.command === 'ROLLBACK') {
        throw new DbError(
          DbErrorCode.TRANSACTION_ABORTED,
          'COMMIT was answered with ROLLBACK: a statement inside the transaction failed and its error was caught; nothing was committed',
        );
      }
    } catch (error) {
      if (!(error instanceof DbError)) broken = asError(error);
      throw error;
    }
    return result;
  } finally {
    client.release(broken);
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
