/**
 * The files of one topic and its partitions:
 * ```
 *   <dir>/<topic>/topic.json                     name, partition count, compacted, configs
 *   <dir>/<topic>/<partition>/head               commit point (format.ts)
 *   <dir>/<topic>/<partition>/<base>.log|.idx    segments and their sparse indexes
 *   <dir>/<topic>/<partition>/writer.lock        held during a write (lock.ts)
 * ```
 * Topic names are Kafka's ([a-zA-Z0-9._-], at most 249, not `.` or `..`), so a name is its folder
 * name; `~` (never in a topic name) marks folders being created or deleted.
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { LogError } from '../errors.js';
import type { Offset } from '../log.js';
import {
  decodeFrame,
  decodeHead,
  encodeHead,
  FRAME_HEADER_BYTES,
  HEAD_BYTES,
  INDEX_ENTRY_BYTES,
  indexLookup,
  readIndexEntry,
  parseSegmentFileName,
  segmentFileName,
  type DecodedFrame,
  type Head,
} from './format.js';
import { dataSync, errno, readAt } from './io.js';

export const TOPIC_FILE = 'topic.json';
export const HEAD_FILE = 'head';
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

export const isLegalTopicName = (name: string): boolean =>
  LEGAL_TOPIC.test(name) && name !== '.' && name !== '..';

export interface TopicMeta {
  readonly name: string;
  readonly partitions: number;
  readonly compacted: boolean;
  readonly config: Readonly<Record<string, string>>;
  /** Random, per creation: a topic deleted and created again is another topic. */
  readonly id: string;
}

export const topicDir = (dir: string, topic: string): string => join(dir, topic);
export const partitionDir = (dir: string, topic: string, partition: number): string =>
  join(dir, topic, String(partition));

/** Reads topic.json; NOT_FOUND when the topic does not exist (or its name cannot be one). */
export function readTopicMeta(dir: string, topic: string): TopicMeta {
  if (!isLegalTopicName(topic)) throw new LogError('NOT_FOUND', `unknown topic ${topic}`, { topic });
  let text: string;
  try {
    text = readFileSync(join(topicDir(dir, topic), TOPIC_FILE), 'utf8');
  } catch (error) {
    if (errno(error) === 'ENOENT')
      throw new LogError('NOT_FOUND', `unknown topic ${topic}`, { topic, cause: error });
    throw error;
  }
  return JSON.parse(text) as TopicMeta;
}

/** A positive integer topic config (`segment.bytes`, `retention.bytes`, ...), or the fallback. */
export function numericConfig(
  meta: TopicMeta,
  name: string,
  fallback: number | undefined,
): number | undefined {
  const raw = meta.config[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

/** Segment bases of a partition, ascending. ENOENT when the partition folder is gone. */
export function listSegments(dir: string): Offset[] {
  const bases: Offset[] = [];
  for (const name of readdirSync(dir)) {
    const base = parseSegmentFileName(name);
    if (base !== undefined) bases.push(base);
  }
  return bases.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export const segmentPath = (dir: string, base: Offset, ext: 'log' | 'idx'): string =>
  join(dir, segmentFileName(base, ext));

/**
 * Reads the head. A concurrent rewrite can tear a read (the 28 bytes are not written atomically for
 * readers): such a read fails its CRC and is repeated.
 */
export function readHead(fd: number, where: { readonly topic: string; readonly partition: number }): Head {
  const buf = Buffer.alloc(HEAD_BYTES);
  for (let attempt = 0; attempt < 50; attempt++) {
    const n = readSync(fd, buf, 0, HEAD_BYTES, 0);
    const head = n === HEAD_BYTES ? decodeHead(buf) : undefined;
    if (head !== undefined) return head;
  }
  throw new LogError('BROKER', `head of ${where.topic}/${where.partition} is damaged`, {
    ...where,
    retriable: true,
  });
}

export function writeHead(fd: number, head: Head): void {
  writeSync(fd, encodeHead(head), 0, HEAD_BYTES, 0);
}

export interface ScannedFrame {
  readonly frame: DecodedFrame;
  readonly position: number;
  /** The frame's bytes as stored (a view; valid until the next step of the scan). */
  readonly raw: Buffer;
}

export type ScanStep =
  | ({ readonly kind: 'frame' } & ScannedFrame)
  /** The file ends inside a frame, or a frame fails its check: the valid data ends at `position`. */
  | { readonly kind: 'end'; readonly position: number; readonly reason: 'eof' | 'torn' | 'corrupt' };

/** Frames of a segment file from `start` to `end` (exclusive), read in chunks. */
export async function* scanFrames(
  fd: number,
  start: number,
  end: number,
  chunkBytes = 1 << 20,
): AsyncGenerator<ScanStep> {
  let buf = Buffer.alloc(0);
  let bufStart = start;
  let position = start;
  for (;;) {
    if (position >= end) {
      yield { kind: 'end', position, reason: 'eof' };
      return;
    }
    const decoded = decodeFrame(buf, position - bufStart);
    if (decoded.kind === 'frame') {
      const at = position - bufStart;
      yield { kind: 'frame', frame: decoded.frame, position, raw: buf.subarray(at, decoded.end) };
      position = bufStart + decoded.end;
      continue;
    }
    if (decoded.kind === 'corrupt') {
      yield { kind: 'end', position, reason: 'corrupt' };
      return;
    }
    // Incomplete: keep what is left of the buffer and read on.
    const have = bufStart + buf.length - position;
    if (position + decoded.needed > end) {
      yield { kind: 'end', position, reason: 'torn' };
      return;
    }
    const size = Math.min(end - position, Math.max(chunkBytes, decoded.needed));
    const next = Buffer.allocUnsafe(size);
    buf.copy(next, 0, position - bufStart);
    const read = await readAt(fd, next.subarray(have), size - have, position + have);
    if (read < size - have) {
      // The file is shorter than `end` says.
      buf = next.subarray(0, have + read);
      bufStart = position;
      const again = decodeFrame(buf, 0);
      if (again.kind !== 'frame') {
        yield { kind: 'end', position, reason: again.kind === 'corrupt' ? 'corrupt' : 'torn' };
        return;
      }
      continue;
    }
    buf = next;
    bufStart = position;
  }
}

/** Reads the frame at `position` if one is whole and valid there. */
export function frameAt(fd: number, position: number, fileSize: number): DecodedFrame | undefined {
  if (position + FRAME_HEADER_BYTES > fileSize) return undefined;
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  readSync(fd, header, 0, FRAME_HEADER_BYTES, position);
  const total = FRAME_HEADER_BYTES + header.readUInt32BE(0);
  if (position + total > fileSize || total > 256 * 1024 * 1024) return undefined;
  const buf = Buffer.allocUnsafe(total);
  readSync(fd, buf, 0, total, position);
  const decoded = decodeFrame(buf, 0);
  return decoded.kind === 'frame' ? decoded.frame : undefined;
}

/** The position a scan for `offset` may start at: a checked index entry, else 0. */
export function startPosition(
  dir: string,
  base: Offset,
  logFd: number,
  fileSize: number,
  offset: Offset,
): number {
  let index: Buffer;
  try {
    index = readFileSync(segmentPath(dir, base, 'idx'));
  } catch {
    return 0;
  }
  // Walk back from the best entry until one is verified (a torn or outdated index is only a hint).
  let entries = Math.floor(index.length / INDEX_ENTRY_BYTES);
  for (;;) {
    const found = indexLookup(index, entries, base, offset);
    if (found < 0) return 0;
    const entry = readIndexEntry(index, found, base);
    if (frameAt(logFd, entry.position, fileSize)?.offset === entry.offset) return entry.position;
    entries = found;
  }
}

export interface RecoveredSegment {
  readonly base: Offset;
  readonly size: number;
  readonly nextOffset: Offset;
  /** Position of the last index entry kept (0 when none). */
  readonly lastIndexPosition: number;
  readonly indexSize: number;
  readonly adoptedRecords: number;
  readonly truncatedBytes: number;
}

/**
 * Brings the last segment of a partition to a clean tail, as a writer must before appending (the
 * caller holds the partition lock): frames past the last checked index entry are read and checked
 * (CRC, offsets increasing); the first one that fails, and everything after it, is a torn write
 * and is cut off, and index entries past the cut are dropped. Whole frames past the head are kept:
 * they may have been acknowledged before a crash lost the head's update (the head is rewritten
 * without fsync), and they are made durable here before the head publishes them.
 */
export async function recoverTail(dir: string, head: Head | undefined): Promise<RecoveredSegment> {
  const bases = listSegments(dir);
  const base = bases[bases.length - 1] ?? 0n;
  const logPath = segmentPath(dir, base, 'log');
  const idxPath = segmentPath(dir, base, 'idx');
  const logFd = openSync(logPath, bases.length === 0 ? 'a+' : 'r+');
  const idxFd = openSync(idxPath, 'a+');
  try {
    const size = fstatSync(logFd).size;
    const index = readFileSync(idxPath);
    let entries = Math.floor(index.length / INDEX_ENTRY_BYTES);
    // Start at the last index entry that points at the frame it names.
    let start = 0;
    let startOffset: Offset | undefined;
    while (entries > 0) {
      const entry = readIndexEntry(index, entries - 1, base);
      if (frameAt(logFd, entry.position, size)?.offset === entry.offset) {
        start = entry.position;
        startOffset = entry.offset;
        break;
      }
      entries--;
    }
    let last: Offset | undefined;
    let end = start;
    let adopted = 0;
    const committed = head !== undefined && head.activeBase === base ? head.activeSize : 0;
    for await (const step of scanFrames(logFd, start, size)) {
      if (step.kind === 'end') {
        end = step.position;
        break;
      }
      const offset = step.frame.offset;
      const expected =
        last === undefined
          ? startOffset === undefined
            ? offset >= base
            : offset === startOffset
          : offset > last;
      if (!expected) {
        end = step.position;
        break;
      }
      last = offset;
      if (step.position >= committed) adopted++;
    }
    if (end < size) ftruncateSync(logFd, end);
    const indexSize = entries * INDEX_ENTRY_BYTES;
    if (indexSize !== index.length) ftruncateSync(idxFd, indexSize);
    if (adopted > 0 || end < size) await dataSync(logFd);
    const lastIndexPosition = entries > 0 ? index.readUInt32BE((entries - 1) * INDEX_ENTRY_BYTES + 4) : 0;
    // With no frame found past the start, the start entry's offset (or the base) is the end.
    const nextOffset = last !== undefined ? last + 1n : startOffset !== undefined ? startOffset : base;
    return {
      base,
      size: end,
      nextOffset,
      lastIndexPosition,
      indexSize,
      adoptedRecords: adopted,
      truncatedBytes: size - end,
    };
  } finally {
    closeSync(logFd);
    closeSync(idxFd);
  }
}
