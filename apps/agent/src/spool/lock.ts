/**
 * One process at a time owns a spool directory: two writers would interleave records and acks.
 * The `LOCK` file names the owner (pid and Linux boot id). It is stale, and taken over, when that
 * process is gone (kill -9 leaves the file behind) or the machine has rebooted since (pids repeat
 * across boots). A live owner makes `open` fail with a retriable SPOOL_IO: an agent that is still
 * shutting down will let go.
 */
import { readFile, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SpoolError } from './spool.js';

export interface DirectoryLock {
  release(): Promise<void>;
}

interface Owner {
  readonly pid: number;
  readonly bootId: string;
}

async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return '';
  }
}

function parseOwner(text: string): Owner | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, bootId: boot } = value as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isInteger(pid) || typeof boot !== 'string') return undefined;
    return { pid, bootId: boot };
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockDirectory(dir: string): Promise<DirectoryLock> {
  const path = join(dir, 'LOCK');
  const me: Owner = { pid: process.pid, bootId: await bootId() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      return { release: () => unlink(path).catch(() => undefined) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SpoolError('SPOOL_IO', `cannot lock spool ${dir}: ${(e as Error).message}`, false, {
          cause: e,
        });
      }
    }
    const owner = parseOwner(await readFile(path, 'utf8').catch(() => ''));
    const stale =
      owner === undefined ||
      (owner.bootId !== '' && me.bootId !== '' && owner.bootId !== me.bootId) ||
      (owner.pid !== process.pid && !alive(owner.pid));
    if (!stale) {
      const who = owner.pid === process.pid ? 'this process (open twice?)' : `process ${owner.pid}`;
      throw new SpoolError('SPOOL_IO', `spool ${dir} is in use by ${who}`, true);
    }
    await unlink(path).catch(() => undefined);
  }
  throw new SpoolError(
    'SPOOL_IO',
    `spool ${dir}: another process took the lock while this one took it over`,
    true,
  );
}
