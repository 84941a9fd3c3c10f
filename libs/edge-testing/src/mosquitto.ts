/**
 * A real Mosquitto broker for integration tests: the Debian `mosquitto` binary on 127.0.0.1 with a
 * generated configuration in a temporary directory (persistence off; anonymous clients allowed
 * unless credentials are given, which go into a password file made by `mosquitto_passwd -b`).
 * `startMosquitto` resolves once the broker accepts TCP connections.
 *
 * When the binary is missing this THROWS (naming `apt-get install mosquitto`): a test that needs
 * the broker fails, it never skips.
 *
 * @example
 * const broker = await startMosquitto({ passwordFile: { 'r-1': 'secret' } });
 * const client = await mqtt.connectAsync(broker.url, { username: 'r-1', password: 'secret' });
 * await broker.kill();                    // SIGKILL: clients see the connection drop
 * await broker.restart({ downMs: 3000 });  // same port, after 3 s
 * await broker.stop();
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MosquittoOptions {
  /** TCP port on 127.0.0.1; a free one when omitted. */
  readonly port?: number;
  /** Lines appended to the generated mosquitto.conf (e.g. `max_queued_messages 100000`). */
  readonly configExtra?: string;
  /** Username → password; written with `mosquitto_passwd -b`. Anonymous clients are then refused. */
  readonly passwordFile?: Readonly<Record<string, string>>;
  /** Defaults to true without `passwordFile`, false with it. */
  readonly allowAnonymous?: boolean;
  /** Path of the broker binary; default /usr/sbin/mosquitto, then `mosquitto` on the PATH. */
  readonly binary?: string;
  /** How long to wait for the broker to accept connections; default 10 s. */
  readonly startTimeoutMs?: number;
}

export interface MosquittoBroker {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The generated configuration file. */
  readonly configFile: string;
  /** Whether the broker process is running. */
  readonly running: boolean;
  /** The broker's recent log lines (its stderr). */
  log(): string;
  /** SIGTERM, wait for exit, remove the temporary directory. The broker cannot be restarted after. */
  stop(): Promise<void>;
  /** SIGKILL: the broker vanishes without closing anything; `restart()` brings it back. */
  kill(): Promise<void>;
  /**
   * Stops it if running (SIGTERM, so a broker configured with persistence saves its state), waits
   * `downMs` (default 0), then starts it again on the same port with the same configuration.
   */
  restart(options?: { readonly downMs?: number }): Promise<void>;
}

export class MosquittoError extends Error {
  override readonly name = 'MosquittoError';
}

const DEFAULT_BINARY = '/usr/sbin/mosquitto';

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const binary = await findBinary(options.binary);
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'fleet-mosquitto-'));
  const configFile = join(dir, 'mosquitto.conf');
  try {
    const lines = [
      `listener ${port} 127.0.0.1`,
      `allow_anonymous ${options.allowAnonymous ?? options.passwordFile === undefined}`,
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
    ];
    // As root, mosquitto 2 drops to the `mosquitto` user, which cannot read the temporary directory.
    if (process.getuid?.() === 0) lines.push('user root');
    if (options.passwordFile !== undefined) {
      const passwordFile = join(dir, 'passwd');
      await writePasswordFile(passwordFile, options.passwordFile, binary);
      lines.push(`password_file ${passwordFile}`);
    }
    if (options.configExtra !== undefined) lines.push(options.configExtra);
    await writeFile(configFile, `${lines.join('\n')}\n`);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  let removed = false;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;

  const launch = async (): Promise<void> => {
    const proc = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-8000);
    });
    exited = new Promise((done) => proc.once('exit', () => done()));
    const spawnError = new Promise<never>((_, reject) =>
      proc.once('error', (e) =>
        reject(
          new MosquittoError(`cannot run ${binary} (${e.message}); install it: apt-get install mosquitto`),
        ),
      ),
    );
    const deadline = Date.now() + startTimeoutMs;
    const ready = (async () => {
      while (!(await accepts(port))) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new MosquittoError(
            `mosquitto exited with ${proc.exitCode ?? proc.signalCode} on port ${port}: ${log.trim()}`,
          );
        }
        if (Date.now() > deadline) {
          throw new MosquittoError(
            `mosquitto did not accept connections on port ${port} within ${startTimeoutMs} ms: ${log.trim()}`,
          );
        }
        await sleep(20);
      }
    })();
    try {
      await Promise.race([ready, spawnError]);
    } catch (error) {
      proc.kill('SIGKILL');
      await exited;
      throw error;
    }
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await launch();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    configFile,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    log: () => log,
    stop: async () => {
      await terminate('SIGTERM');
      if (!removed) {
        removed = true;
        await rm(dir, { recursive: true, force: true });
      }
    },
    kill: () => terminate('SIGKILL'),
    restart: async (restartOptions = {}) => {
      if (removed) throw new MosquittoError('mosquitto was stopped for good; start a new one');
      await terminate('SIGTERM');
      if ((restartOptions.downMs ?? 0) > 0) await sleep(restartOptions.downMs);
      await launch();
    },
  };
}

async function findBinary(binary: string | undefined): Promise<string> {
  const candidates = binary === undefined ? [DEFAULT_BINARY] : [binary];
  for (const c of candidates) {
    if (
      await access(c, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return c;
  }
  if (binary === undefined) {
    const onPath = await run('sh', ['-c', 'command -v mosquitto']).then(
      (r) => r.stdout.trim(),
      () => '',
    );
    if (onPath !== '') return onPath;
  }
  throw new MosquittoError(
    `the mosquitto broker is not installed (no ${candidates.join(' or ')}${binary === undefined ? ' and none on the PATH' : ''}); install it: apt-get install mosquitto`,
  );
}

async function writePasswordFile(
  path: string,
  users: Readonly<Record<string, string>>,
  binary: string,
): Promise<void> {
  const tool = join(binary, '..', '..', 'bin', 'mosquitto_passwd');
  const passwd = (await access(tool, constants.X_OK).then(
    () => true,
    () => false,
  ))
    ? tool
    : 'mosquitto_passwd';
  let first = true;
  for (const [user, password] of Object.entries(users)) {
    try {
      await run(passwd, first ? ['-c', '-b', path, user, password] : ['-b', path, user, password]);
    } catch (error) {
      throw new MosquittoError(
        `mosquitto_passwd failed for user ${user}: ${(error as Error).message}; it comes with the broker: apt-get install mosquitto`,
      );
    }
    first = false;
  }
  if (first) await writeFile(path, '');
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
