/**
 * Pseudo-terminal pairs from `socat`: two serial devices wired back to back, what the firmware
 * simulator and the agent use instead of a real UART in development and tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PtyPair {
  /** One end (e.g. the firmware's side). */
  readonly a: string;
  /** The other end (e.g. the agent's side). */
  readonly b: string;
  /** Stops socat; both devices disappear. */
  close(): Promise<void>;
}

export class PtyError extends Error {
  override readonly name = 'PtyError';
}

/**
 * Creates a PTY pair with symlinks at `a` and `b` (raw, no echo), and resolves once both exist.
 *
 * @example
 * const pty = await openPtyPair('/tmp/robot-1.fw', '/tmp/robot-1.agent');
 * // firmware opens pty.a, agent opens pty.b
 * await pty.close();
 */
export async function openPtyPair(
  a: string,
  b: string,
  options: { timeoutMs?: number } = {},
): Promise<PtyPair> {
  const socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  socat.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((done) => socat.once('exit', (code) => done(code)));
  const failed = new Promise<never>((_, reject) =>
    socat.once('error', (error) =>
      reject(new PtyError(`cannot run socat (${error.message}); install it: apt-get install socat`)),
    ),
  );
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  const ready = (async () => {
    while (!((await exists(a)) && (await exists(b)))) {
      if (socat.exitCode !== null) throw new PtyError(`socat exited with ${socat.exitCode}: ${log.trim()}`);
      if (Date.now() > deadline)
        throw new PtyError(`socat did not create ${a} and ${b} in time: ${log.trim()}`);
      await sleep(10);
    }
  })();
  try {
    await Promise.race([ready, failed]);
  } catch (error) {
    socat.kill('SIGKILL');
    throw error;
  }
  return { a, b, close: () => stop(socat, exited) };
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function stop(socat: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (socat.exitCode !== null || socat.signalCode !== null) return;
  socat.kill('SIGTERM');
  const timer = setTimeout(() => socat.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
