/**
 * Compaction and retention of closed segments (never the active one), under the partition's
 * maintenance lock (writers, which touch only the active segment and the head, are not held up).
 *
 * Compaction (topics created with `compacted: true`): the latest record of each key in the whole
 * partition is found, then every closed segment holding an older record of some key is rewritten
 * without it, to `<base>.log.cleaned`, fsynced and renamed over the original (its index likewise).
 * Offsets never change; a compacted segment has gaps, which readers step over. A tombstone that is
 * the latest record of its key is kept until its timestamp is older than `delete.retention.ms`
 * (default 24 h), so that readers catching up still see the delete. Records in the active segment
 * are all kept until it is closed: a compacted topic holds at most the latest record per key plus
 * one segment (`segment.bytes`) of history.
 *
 * Retention (topic configs `retention.ms`, `retention.bytes`): the oldest closed segments are
 * deleted while the partition is larger than `retention.bytes`, or while their newest record is
 * older than `retention.ms`. The partition's begin offset moves to the next segment's base.
 *
 * Readers that hold a segment open while it is rewritten or deleted keep reading the old file
 * (POSIX unlink/rename semantics); offsets stay valid either way.
 */
import { closeSync, fstatSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { LogError } from '../errors.js';
import type { Offset } from '../log.js';
import type { ResolvedFileLogConfig } from './config.js';
import { maintenanceChannel } from './diagnostics.js';
import { encodeIndexEntry, INDEX_ENTRY_BYTES, type Head } from './format.js';
import { dataSync, errno, syncDir } from './io.js';
import { MAINTENANCE_LOCK_FILE, withPartitionLock } from './lock.js';
import {
  HEAD_FILE,
  listSegments,
  numericConfig,
  partitionDir,
  readHead,
  readTopicMeta,
  scanFrames,
  segmentPath,
  type TopicMeta,
} from './partition.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface MaintenanceResult {
  readonly topic: string;
  readonly partition: number;
  readonly segmentsRewritten: number;
  readonly segmentsDeleted: number;
  readonly recordsRemoved: number;
}

/** Runs retention, then compaction if the topic is compacted, on one partition. */
export async function maintainPartition(
  config: ResolvedFileLogConfig,
  topic: string,
  partition: number,
): Promise<MaintenanceResult> {
  const meta = readTopicMeta(config.dir, topic);
  if (!Number.isInteger(partition) || partition < 0 || partition >= meta.partitions) {
    throw new LogError('NOT_FOUND', `unknown partition ${topic}/${partition}`, { topic, partition });
  }
  const dir = partitionDir(config.dir, topic, partition);
  return withPartitionLock(
    dir,
    config.lockTimeoutMs,
    () => maintainLocked(config, meta, dir, partition),
    MAINTENANCE_LOCK_FILE,
  );
}

async function maintainLocked(
  config: ResolvedFileLogConfig,
  meta: TopicMeta,
  dir: string,
  partition: number,
): Promise<MaintenanceResult> {
  const topic = meta.name;
  const headFd = openSync(`${dir}/${HEAD_FILE}`, 'r');
  let head: Head;
  try {
    head = readHead(headFd, { topic, partition });
  } finally {
    closeSync(headFd);
  }
  const now = config.now();
  const segmentsDeleted = retain(dir, head, meta, now);
  const { segmentsRewritten, recordsRemoved } = meta.compacted
    ? await compact(dir, head, meta, now, config.indexIntervalBytes)
    : { segmentsRewritten: 0, recordsRemoved: 0 };
  const result = { topic, partition, segmentsRewritten, segmentsDeleted, recordsRemoved };
  if (maintenanceChannel.hasSubscribers) {
    maintenanceChannel.publish({ ...result, action: meta.compacted ? 'compaction' : 'retention' });
  }
  return result;
}

/** Closed segments: all but the last, and none at or after the head's active one. */
function closedSegments(dir: string, head: Head): { readonly all: Offset[]; readonly closed: Offset[] } {
  const all = listSegments(dir);
  const last = all[all.length - 1];
  return { all, closed: all.filter((base) => base !== last && base < head.activeBase) };
}

function retain(dir: string, head: Head, meta: TopicMeta, now: number): number {
  const retentionBytes = numericConfig(meta, 'retention.bytes', undefined);
  const retentionMs = numericConfig(meta, 'retention.ms', undefined);
  if (retentionBytes === undefined && retentionMs === undefined) return 0;
  const { all, closed } = closedSegments(dir, head);
  const size = (base: Offset): number => statSync(segmentPath(dir, base, 'log')).size;
  let total = all.reduce((n, base) => n + size(base), 0);
  let deleted = 0;
  for (const base of closed) {
    const tooBig = retentionBytes !== undefined && total > retentionBytes;
    // A segment's newest record is at most its file's last modification (timestamps are event
    // times, which may lie; the file time is when the segment was last written).
    const tooOld =
      retentionMs !== undefined && statSync(segmentPath(dir, base, 'log')).mtimeMs < now - retentionMs;
    if (!tooBig && !tooOld) break;
    total -= size(base);
    unlinkSync(segmentPath(dir, base, 'log'));
    try {
      unlinkSync(segmentPath(dir, base, 'idx'));
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
    }
    deleted++;
  }
  if (deleted > 0) syncDir(dir);
  return deleted;
}

async function compact(
  dir: string,
  head: Head,
  meta: TopicMeta,
  now: number,
  indexIntervalBytes: number,
): Promise<{ segmentsRewritten: number; recordsRemoved: number }> {
  const { all, closed } = closedSegments(dir, head);
  if (closed.length === 0) return { segmentsRewritten: 0, recordsRemoved: 0 };
  const tombstoneCutoff = now - (numericConfig(meta, 'delete.retention.ms', DAY_MS) ?? DAY_MS);

  // Pass 1: the latest offset of every key, over all committed records.
  const latest = new Map<string, Offset>();
  for (const base of all) {
    const fd = openSync(segmentPath(dir, base, 'log'), 'r');
    try {
      const end = base === head.activeBase ? head.activeSize : fstatSync(fd).size;
      for await (const step of scanFrames(fd, 0, end)) {
        if (step.kind === 'end') {
          if (step.reason !== 'eof' && base !== head.activeBase)
            throw corrupt(meta.name, dir, base, step.position);
          break;
        }
        if (step.frame.key !== null) latest.set(step.frame.key.toString('latin1'), step.frame.offset);
      }
    } finally {
      closeSync(fd);
    }
  }

  // Pass 2: rewrite each closed segment that holds something superseded.
  let segmentsRewritten = 0;
  let recordsRemoved = 0;
  for (const base of closed) {
    const logPath = segmentPath(dir, base, 'log');
    const idxPath = segmentPath(dir, base, 'idx');
    const fd = openSync(logPath, 'r');
    const outFd = openSync(`${logPath}.cleaned`, 'w');
    const idxFd = openSync(`${idxPath}.cleaned`, 'w');
    let removed = 0;
    try {
      let written = 0;
      let lastIndexed = 0;
      let indexSize = 0;
      const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
      for await (const step of scanFrames(fd, 0, fstatSync(fd).size)) {
        if (step.kind === 'end') {
          if (step.reason !== 'eof') throw corrupt(meta.name, dir, base, step.position);
          break;
        }
        const { key, value, offset, timestamp } = step.frame;
        const superseded = key !== null && latest.get(key.toString('latin1')) !== offset;
        const expiredTombstone = value === null && timestamp < tombstoneCutoff;
        if (superseded || expiredTombstone) {
          removed++;
          continue;
        }
        if (written - lastIndexed >= indexIntervalBytes) {
          encodeIndexEntry(Number(offset - base), written, entry, 0);
          writeSync(idxFd, entry, 0, INDEX_ENTRY_BYTES, indexSize);
          indexSize += INDEX_ENTRY_BYTES;
          lastIndexed = written;
        }
        writeSync(outFd, step.raw, 0, step.raw.length, written);
        written += step.raw.length;
      }
      if (removed > 0) {
        await dataSync(outFd);
        await dataSync(idxFd);
      }
    } finally {
      closeSync(fd);
      closeSync(outFd);
      closeSync(idxFd);
    }
    if (removed === 0) {
      unlinkSync(`${logPath}.cleaned`);
      unlinkSync(`${idxPath}.cleaned`);
      continue;
    }
    // A crash between the renames leaves an index that does not match: it is only a hint.
    renameSync(`${logPath}.cleaned`, logPath);
    renameSync(`${idxPath}.cleaned`, idxPath);
    syncDir(dir);
    segmentsRewritten++;
    recordsRemoved += removed;
  }
  return { segmentsRewritten, recordsRemoved };
}

function corrupt(topic: string, dir: string, base: Offset, position: number): LogError {
  return new LogError('BROKER', `segment ${base} of ${dir} is damaged at byte ${position}`, { topic });
}
