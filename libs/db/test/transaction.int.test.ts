/** Integration: createPool and withTransaction on a real PostgreSQL. */
import type { Pool } from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase } from '../src/admin.js';
import { DbErrorCode, isDbError } from '../src/errors.js';
import { createPool, withTransaction } from '../src/pool.js';
import { testServer, type TestServer } from './fixture.js';

let server: TestServer;
let drop: () => Promise<void>;
let pool: Pool;

beforeAll(async () => {
  server = await testServer();
  const db = await server.database('transactions');
  drop = db.drop;
  pool = createPool({ url: db.url, max: 3, applicationName: 'tx-test' });
  await pool.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
});
afterAll(async () => {
  await pool?.end();
  await drop?.();
  await server?.stop();
});
beforeEach(async () => {
  await pool.query('TRUNCATE items');
});

async function ids(): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>('SELECT id FROM items ORDER BY id');
  return rows.map((r) => r.id);
}

describe('withTransaction', () => {
  it('commits everything fn wrote and returns its result', async () => {
    const result = await withTransaction(pool, async (client) => {
      await client.query('INSERT INTO items VALUES (1), (2)');
      await client.query('INSERT INTO items VALUES (3)');
      return 'done';
    });
    expect(result).toBe('done');
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it('rolls back everything when fn throws, and rethrows the same error', async () => {
    const boom = new Error('boom');
    await expect(
      withTransaction(pool, async (client) => {
        await client.query('INSERT INTO items VALUES (1)');
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await ids()).toEqual([]);
  });

  it('rolls back when a statement fails', async () => {
    await pool.query('INSERT INTO items VALUES (1)');
    await expect(
      withTransaction(pool, async (client) => {
        await client.query('INSERT INTO items VALUES (2)');
        await client.query('INSERT INTO items VALUES (1)'); // duplicate key
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await ids()).toEqual([1]);
  });

  it('refuses to report success when fn swallowed a failed statement (COMMIT answered ROLLBACK)', async () => {
    const error = await withTransaction(pool, async (client) => {
      await client.query('INSERT INTO items VALUES (5)');
      await client.query('SELECT no_such_column FROM items').catch(() => undefined);
    }).catch((e: unknown) => e);
    expect(isDbError(error, DbErrorCode.TRANSACTION_ABORTED)).toBe(true);
    expect(await ids()).toEqual([]);
  });

  it('returns its connection to the pool in every case, leaving no transaction open', async () => {
    for (let i = 0; i < 10; i++) {
      await withTransaction(pool, async () => {
        throw new Error(`attempt ${i}`);
      }).catch(() => undefined);
    }
    expect(pool.waitingCount).toBe(0);
    expect(pool.totalCount).toBeLessThanOrEqual(3);
    const { rows } = await pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'tx-test' AND state LIKE 'idle in transaction%'",
    );
    expect(rows[0]?.n).toBe('0');
  });

  it('runs at the requested isolation level', async () => {
    const level = await withTransaction(
      pool,
      async (client) =>
        (await client.query<{ l: string }>("SELECT current_setting('transaction_isolation') AS l")).rows[0]
          ?.l,
      { isolation: 'serializable' },
    );
    expect(level).toBe('serializable');
  });
});

describe('createPool', () => {
  it('names its connections after applicationName', async () => {
    const { rows } = await pool.query<{ name: string }>("SELECT current_setting('application_name') AS name");
    expect(rows[0]?.name).toBe('tx-test');
  });

  it('rejects invalid configuration before connecting', () => {
    expect(() => createPool({ url: '' })).toThrow(/url/);
    expect(() => createPool({ url: 'postgres://x@127.0.0.1/x', max: 0 })).toThrow(/max/);
  });
});

describe('createDatabase / dropDatabase', () => {
  it('creates once, reports an existing database with ifNotExists, and drops despite open connections', async () => {
    const name = `t_admin_${process.pid}`;
    const first = await createDatabase(server.adminUrl, name);
    expect(first.created).toBe(true);
    expect((await createDatabase(server.adminUrl, name, { ifNotExists: true })).created).toBe(false);
    const other = createPool({ url: first.url });
    await other.query('SELECT 1');
    await dropDatabase(server.adminUrl, name);
    await other.end();
    const { rows } = await pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    expect(rows).toEqual([]);
  });

  it('refuses names that would need quoting', async () => {
    await expect(createDatabase(server.adminUrl, 'Robert"; DROP')).rejects.toThrow(/must match/);
  });
});
