/**
 * Keyed state in PostgreSQL as a log of binary segments (table `stream_state_segments`): a
 * checkpoint appends the state changes since the previous one as one segment (split into chunks of
 * at most `maxChunkBytes`), so its cost is a few large rows instead of one upsert per key; a restore
 * replays the segments in order; compaction rewrites a partition's segments as the merged live
 * entries (the same rows a restore would build), in a transaction guarded by the owner's epoch.
 *
 * Segment layout (version 1), all integers little-endian:
 *
 *   u8 version = 1
 *   u32 count
 *   count x entry:
 *     u8  op            0 = put, 1 = delete
 *     f64 writtenAt     ms (TTL)
 *     u32 nameLength,    name bytes (UTF-8)
 *     u32 keyLength,     key bytes
 *     u32 userKeyLength, userKey bytes
 *     u32 valueLength,   value bytes          (put only)
 *
 * No I/O here: ./checkpoint-store.ts reads and writes the rows.
 */
import type { StateChange } from '@fleet/state';

const VERSION = 1;
const PUT = 0;
const DELETE = 1;

/** Encodes changes into segments of at most `maxChunkBytes` each (one oversized entry gets its own). */
export function encodeSegments(changes: readonly StateChange[], maxChunkBytes: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (start < changes.length) {
    let size = SEGMENT_HEADER_BYTES;
    let end = start;
    while (end < changes.length) {
      const entry = entrySize(changes[end] as StateChange);
      if (end > start && size + entry > maxChunkBytes) break;
      size += entry;
      end++;
    }
    out.push(encodeOne(changes, start, end, size));
    start = end;
  }
  return out;
}

/** Bytes of an empty segment (version, count). */
export const SEGMENT_HEADER_BYTES = 5;

/** Bytes of one entry in the layout above. */
export function entrySize(c: StateChange): number {
  return (
    1 +
    8 +
    12 +
    Buffer.byteLength(c.name) +
    Buffer.byteLength(c.key) +
    Buffer.byteLength(c.userKey) +
    (c.value === null ? 0 : 4 + c.value.byteLength)
  );
}

function encodeOne(changes: readonly StateChange[], from: number, to: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let at = buf.writeUInt8(VERSION, 0);
  at = buf.writeUInt32LE(to - from, at);
  for (let i = from; i < to; i++) {
    const c = changes[i] as StateChange;
    at = buf.writeUInt8(c.value === null ? DELETE : PUT, at);
    at = buf.writeDoubleLE(c.writtenAt, at);
    for (const s of [c.name, c.key, c.userKey]) {
      const n = buf.write(s, at + 4, 'utf8');
      buf.writeUInt32LE(n, at);
      at += 4 + n;
    }
    if (c.value !== null) {
      at = buf.writeUInt32LE(c.value.byteLength, at);
      buf.set(c.value, at);
      at += c.value.byteLength;
    }
  }
  if (at !== size) throw new RangeError(`state segment: wrote ${at} bytes of ${size}`);
  return buf;
}

/** Calls `each` for every entry of one segment, in order; throws on a malformed segment. */
export function decodeSegment(segment: Uint8Array, each: (change: StateChange) => void): void {
  const buf = Buffer.from(segment.buffer, segment.byteOffset, segment.byteLength);
  if (buf.length < 5 || buf.readUInt8(0) !== VERSION)
    throw new RangeError(`state segment: unknown version ${buf.length === 0 ? 'none' : buf.readUInt8(0)}`);
  const count = buf.readUInt32LE(1);
  let at = 5;
  const text = (): string => {
    const n = buf.readUInt32LE(at);
    at += 4;
    if (at + n > buf.length) throw new RangeError('state segment: truncated');
    const s = buf.toString('utf8', at, at + n);
    at += n;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const op = buf.readUInt8(at);
    const writtenAt = buf.readDoubleLE(at + 1);
    at += 9;
    const name = text();
    const key = text();
    const userKey = text();
    let value: Uint8Array | null = null;
    if (op === PUT) {
      const n = buf.readUInt32LE(at);
      at += 4;
      if (at + n > buf.length) throw new RangeError('state segment: truncated');
      // A copy: the restored state must not keep the whole (multi-MB) segment alive.
      value = new Uint8Array(buf.subarray(at, at + n));
      at += n;
    } else if (op !== DELETE) {
      throw new RangeError(`state segment: unknown op ${op}`);
    }
    each({ name, key, userKey, value, writtenAt });
  }
  if (at !== buf.length) throw new RangeError(`state segment: ${buf.length - at} bytes after the last entry`);
}

/**
 * The live entries after applying changes in order: the last change of an entry wins, a delete
 * removes it. Keyed by name, key and user key.
 */
export class StateMerge {
  private readonly live = new Map<string, StateChange>();

  apply(change: StateChange): void {
    const id = `${change.name}\u0000${change.key}\u0000${change.userKey}`;
    if (change.value === null) this.live.delete(id);
    else this.live.set(id, change);
  }

  applySegment(segment: Uint8Array): void {
    decodeSegment(segment, (c) => this.apply(c));
  }

  entries(): StateChange[] {
    return [...this.live.values()];
  }
}
