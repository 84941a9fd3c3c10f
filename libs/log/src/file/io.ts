import { closeSync, fdatasync, fsyncSync, openSync, read, write } from 'node:fs';
import { LogError } from '../errors.js';

/** The file system's error code (ENOENT, ...), if the error has one. */
export function errno(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Resource shortages that may pass; anything else (EIO, EROFS, EACCES) needs an operator. */
const RETRIABLE_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR']);

/** Converts a file-system failure into a LogError; LogErrors pass through unchanged. */
export function toLogError(
  error: unknown,
  context: string,
  where: { readonly topic?: string; readonly partition?: number } = {},
): LogError {
  if (error instanceof LogError) return error;
  const code = errno(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOENT') {
    const what =
      where.partition === undefined ? `topic ${where.topic ?? '?'}` : `${where.topic}/${where.partition}`;
    return new LogError('NOT_FOUND', `${context}: unknown ${what}`, { cause: error, ...where });
  }
  return new LogError('BROKER', `${context}: ${message}`, {
    cause: error,
    retriable: code !== undefined && RETRIABLE_ERRNOS.has(code),
    ...where,
  });
}

export function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, 0, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
  });
}

/** Writes all of `buffer` at `position` (looping over short writes). */
export async function writeAllAt(fd: number, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    done += await new Promise<number>((resolve, reject) => {
      write(fd, buffer, done, buffer.length - done, position + done, (error, written) =>
        error ? reject(error) : resolve(written),
      );
    });
  }
}

export function dataSync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/** Makes a folder's entries (files created, renamed, removed in it) durable. */
export function syncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // Already closed or the file system is gone: nothing left to release.
  }
}
