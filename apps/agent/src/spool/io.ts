/**
 * File primitives of the spool: whole writes and reads at a position (a file handle may transfer
 * fewer bytes than asked), directory fsync, and the mapping of system errors to SpoolError.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { SpoolError } from './spool.js';

/** Errors after which the same operation may succeed later: the disk may get room, fds free up. */
const RETRIABLE_CODES: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'EAGAIN',
  'EBUSY',
  'EINTR',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
]);

/** The system error code (`ENOSPC`, `EIO`, ...) of `e`, if it has one. */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  const code = (e as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** `e` as a SpoolError: SPOOL_IO, retriable for the codes above; SpoolErrors pass through. */
export function ioError(what: string, e: unknown): SpoolError {
  if (e instanceof SpoolError) return e;
  const code = errnoCode(e);
  const message = e instanceof Error ? e.message : String(e);
  return new SpoolError('SPOOL_IO', `${what}: ${message}`, code !== undefined && RETRIABLE_CODES.has(code), {
    cause: e,
  });
}

export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += bytesWritten;
  }
}

/** `length` bytes from `position`; fewer only when the file ends first. */
export async function readFully(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(bytes, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? bytes : bytes.subarray(0, done);
}

/**
 * fsync of a directory, which makes the names of files created (or removed) in it durable; without
 * it a new segment file can vanish after power loss even though its data was synced.
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
  }
}

/** Cuts `path` to `length` bytes; fsyncs unless `sync` is false. */
export async function truncateFile(path: string, length: number, sync: boolean): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    if (sync) await handle.datasync();
  } finally {
    await handle.close();
  }
}
