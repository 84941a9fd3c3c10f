/**
 * Opening a spool directory after a clean close, a kill -9 or a power loss:
 * 1. every segment is read and checked record by record (CRC); a torn tail is cut off, fsynced,
 *    reported (`truncated_tail`) and counted — never handed out;
 * 2. its ack log is applied; a torn ack batch at the end is cut off too, so that later batches do
 *    not land behind garbage (those acks are merely forgotten: the records are sent again);
 * 3. segments left with nothing unacknowledged are deleted, as are ack logs without a segment
 *    (a crash between the two unlinks) and segments with no valid record at all.
 * Every recovered segment is sealed: new records always go to a new file.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { emit } from '../diagnostics.js';
import { scanAckLog, scanSegment } from './format.js';
import { ioError, truncateFile, unlinkIfExists } from './io.js';
import { parseSegmentFileName, Segment, segmentFileName } from './segment.js';
import type { SpoolClass } from './spool.js';

/** Oldest segments per class whose per-record index stays loaded after recovery. */
export const KEEP_INDEXES = 2;

export interface RecoveredSegments {
  readonly segments: Record<SpoolClass, Segment[]>;
  /** Highest id named by any segment found, valid or not (0 when none): new ids go above it. */
  readonly maxId: number;
  /** Torn tails cut off, each counted as one lost record. */
  readonly tornTails: number;
}

export async function recoverSegments(dir: string, sync: boolean): Promise<RecoveredSegments> {
  const segments: Record<SpoolClass, Segment[]> = { telemetry: [], priority: [] };
  let maxId = 0;
  let tornTails = 0;
  const found: { cls: SpoolClass; firstId: number }[] = [];
  const ackLogs = new Set<string>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw ioError(`read ${dir}`, e);
  }
  for (const name of names) {
    const parsed = parseSegmentFileName(name);
    if (parsed?.kind === 'seg') found.push(parsed);
    else if (parsed?.kind === 'ack') ackLogs.add(name);
  }
  found.sort((a, b) => a.firstId - b.firstId);

  for (const { cls, firstId } of found) {
    const path = join(dir, segmentFileName(cls, firstId, 'seg'));
    const ackName = segmentFileName(cls, firstId, 'ack');
    const ackPath = join(dir, ackName);
    ackLogs.delete(ackName);
    try {
      const bytes = await readFile(path);
      const scan = scanSegment(bytes, { cls, firstId });
      maxId = Math.max(maxId, firstId, scan.ids[scan.count - 1] ?? 0);
      if (scan.validEnd < bytes.byteLength) {
        tornTails++;
        emit('spool', 'warn', 'truncated_tail', {
          file: path,
          fault: scan.fault,
          validBytes: scan.validEnd,
          tornBytes: bytes.byteLength - scan.validEnd,
          recordsKept: scan.count,
        });
        if (scan.count > 0) await truncateFile(path, scan.validEnd, sync);
      }
      if (scan.count === 0) {
        await unlinkIfExists(path);
        await unlinkIfExists(ackPath);
        continue;
      }
      const segment = Segment.recovered(dir, cls, firstId, scan, scan.validEnd);
      await applyAckLog(segment, sync);
      if (segment.unacked === 0) {
        await unlinkIfExists(path);
        await unlinkIfExists(ackPath);
        continue;
      }
      // Peeks start at the oldest segments: those keep their index, the rest load it when reached
      // (a full spool's index would not fit the agent's memory budget; see segment.ts).
      if (segments[cls].length >= KEEP_INDEXES) segment.unloadIndex();
      segments[cls].push(segment);
    } catch (e) {
      throw ioError(`recover ${path}`, e);
    }
  }
  for (const orphan of ackLogs) {
    try {
      await unlinkIfExists(join(dir, orphan));
    } catch (e) {
      throw ioError(`remove ${orphan}`, e);
    }
  }
  return { segments, maxId, tornTails };
}

async function applyAckLog(segment: Segment, sync: boolean): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(segment.ackPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const scan = scanAckLog(bytes);
  if (!scan.headerOk) {
    await unlinkIfExists(segment.ackPath);
    return;
  }
  if (scan.validEnd < bytes.byteLength) {
    emit('spool', 'warn', 'ack_log_truncated', {
      file: segment.ackPath,
      validBytes: scan.validEnd,
      tornBytes: bytes.byteLength - scan.validEnd,
    });
    await truncateFile(segment.ackPath, scan.validEnd, sync);
  }
  for (const id of scan.ids) segment.markDone(segment.ordinalOf(id));
  segment.ackLogSize = scan.validEnd;
}
