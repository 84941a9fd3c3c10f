/**
 * One writer per partition at a time, across the processes of one machine.
 *
 * Node has no flock(), so the lock is a file `writer.lock` in the partition folder, created with
 * O_CREAT|O_EXCL (atomic on local file systems) and holding `pid`, the process's start time (field
 * 22 of /proc/<pid>/stat, so that a recycled pid is not taken for the dead owner) and the host
 * name. It is held only around one write + fsync + head update, so several processes can write the
 * same partition in turn. Inside one process a promise chain queues the callers first, so the file
 * is only ever contended between processes.
 *
 * A lock whose owner is gone (killed in its critical section) is stale: a waiter removes it, under
 * a second O_EXCL file `writer.lock.break`, so that two waiters cannot both break it and then both
 * take it. A `.break` file older than BREAK_STALE_MS was left by a breaker that died in those few
 * microseconds and is removed. Locks of another host are never broken: network file systems are
 * not supported.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LogError } from '../errors.js';
import { errno } from './io.js';

export const LOCK_FILE = 'writer.lock';
/**
 * Compaction and retention take this one instead: they touch only closed segments, which writers
 * never touch, so a long compaction does not hold up writes.
 */
export const MAINTENANCE_LOCK_FILE = 'maintenance.lock';
const BREAK_STALE_MS = 5_000;
/** A lock file still empty (its owner between create and write) this long is abandoned. */
const EMPTY_STALE_MS = 5_000;

function startTime(pid: number | 'self'): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; start time is 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

const HOST = hostname();
const OWN_STAMP = `${process.pid}\n${startTime('self')}\n${HOST}\n`;

const chains = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding a lock of the partition (the writer lock unless told otherwise). `fn` must not take it again (no reentrance).
 * Throws the file system's ENOENT when the partition folder is gone (the caller maps it).
 */
export async function withPartitionLock<T>(
  partitionDir: string,
  timeoutMs: number,
  fn: () => Promise<T>,
  lockFile: string = LOCK_FILE,
): Promise<T> {
  const path = join(partitionDir, lockFile);
  const previous = chains.get(path) ?? Promise.resolve();
  let release = (): void => undefined;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  chains.set(path, tail);
  await previous;
  try {
    await acquire(path, timeoutMs);
    try {
      return await fn();
    } finally {
      unlock(path);
    }
  } finally {
    release();
    if (chains.get(path) === tail) chains.delete(path);
  }
}

function unlock(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    // The topic was deleted while we held it: nothing to release. Anything else would leave the
    // partition locked until the stale-lock check sees this process gone.
    if (errno(error) !== 'ENOENT') throw error;
  }
}

async function acquire(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let backoff = 1;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, OWN_STAMP);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (error) {
      if (errno(error) !== 'EEXIST') throw error;
    }
    if (breakIfStale(path)) continue;
    if (Date.now() > deadline) {
      throw new LogError(
        'TIMEOUT',
        `partition lock ${path} held by ${owner(path)} for more than ${timeoutMs} ms`,
        {
          retriable: true,
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, 16);
  }
}

function owner(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').join(' / ') || 'a process starting up';
  } catch {
    return 'nobody any more';
  }
}

function alive(pid: number, start: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (errno(error) === 'ESRCH') return false;
    // EPERM: it exists, under another user.
  }
  const current = startTime(pid);
  return start === '' || current === '' || current === start;
}

/** true when the lock was stale and is now gone (or was gone already): try again at once. */
function breakIfStale(path: string): boolean {
  let stamp: string;
  let mtimeMs: number;
  try {
    stamp = readFileSync(path, 'utf8');
    mtimeMs = statSync(path).mtimeMs;
  } catch (error) {
    if (errno(error) === 'ENOENT') return true;
    throw error;
  }
  const [pid = '', start = '', host = ''] = stamp.split('\n');
  if (stamp === '') {
    if (Date.now() - mtimeMs < EMPTY_STALE_MS) return false;
  } else if (host !== HOST || !/^\d+$/.test(pid) || alive(Number(pid), start)) {
    return false;
  }
  const breaker = `${path}.break`;
  try {
    closeSync(openSync(breaker, 'wx'));
  } catch (error) {
    if (errno(error) !== 'EEXIST') throw error;
    try {
      if (Date.now() - statSync(breaker).mtimeMs > BREAK_STALE_MS) unlinkSync(breaker);
    } catch {
      // Another waiter removed it first.
    }
    return false;
  }
  try {
    // Still the same stale stamp? (Another waiter may have broken it and taken the lock since.)
    if (readFileSync(path, 'utf8') === stamp) unlinkSync(path);
  } catch (error) {
    if (errno(error) !== 'ENOENT') throw error;
  } finally {
    unlinkSync(breaker);
  }
  return true;
}
