/**
 * What the spool keeps in memory about one segment file. No I/O: the spool reads and writes the
 * files and tells the segment what happened.
 *
 * Memory per record: one bit (acknowledged or not) for every segment, always; plus 12 bytes (id and
 * file offset) while the segment's index is loaded. Only the active segments and a few recently
 * read ones keep their index loaded, so a full 256 MiB spool of 80-byte samples costs well under
 * a megabyte of bits instead of tens of megabytes of index.
 */
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SEGMENT_HEADER_BYTES } from './format.js';
import type { SpoolClass } from './spool.js';

export interface SegmentIndex {
  readonly ids: Float64Array;
  readonly offsets: Uint32Array;
}

const NAME = /^(telemetry|priority)-(\d{20})\.(seg|ack)$/;

export function segmentFileName(cls: SpoolClass, firstId: number, kind: 'seg' | 'ack'): string {
  return `${cls}-${String(firstId).padStart(20, '0')}.${kind}`;
}

/** The class, first id and kind named by a spool file name, or undefined for any other file. */
export function parseSegmentFileName(
  name: string,
): { cls: SpoolClass; firstId: number; kind: 'seg' | 'ack' } | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  const firstId = Number(m[2]);
  if (!Number.isSafeInteger(firstId) || firstId < 1) return undefined;
  return { cls: m[1] as SpoolClass, firstId, kind: m[3] as 'seg' | 'ack' };
}

export class Segment {
  readonly path: string;
  readonly ackPath: string;
  /** Records in the file (acknowledged or not). */
  count = 0;
  /** Records acknowledged, dropped or found corrupt. */
  done = 0;
  lastId: number;
  /** File length; records occupy `size - SEGMENT_HEADER_BYTES`. */
  size = SEGMENT_HEADER_BYTES;
  /** Ordinal of the first record that may still be unacknowledged. */
  head = 0;
  /** Length of the ack log; 0 when it does not exist yet. */
  ackLogSize = 0;
  /** No more appends: a later segment exists, or a write to this one failed. */
  sealed = false;
  /** The open file: the write handle of the active segment, or a read handle. */
  handle: FileHandle | undefined;
  /** Written since its last fsync (fsync: 'interval'). */
  dirty = false;
  /** Ids acknowledged since the ack log was last written. */
  pendingAcks: number[] = [];
  private acked: Uint8Array;
  private index: { ids: Float64Array; offsets: Uint32Array } | undefined;

  constructor(
    dir: string,
    readonly cls: SpoolClass,
    readonly firstId: number,
    capacity = 64,
  ) {
    this.path = join(dir, segmentFileName(cls, firstId, 'seg'));
    this.ackPath = join(dir, segmentFileName(cls, firstId, 'ack'));
    this.lastId = firstId - 1;
    this.acked = new Uint8Array(Math.ceil(capacity / 8));
    this.index = { ids: new Float64Array(capacity), offsets: new Uint32Array(capacity) };
  }

  /** A segment recovered from its file: `count` records whose ids and offsets are `index`. */
  static recovered(
    dir: string,
    cls: SpoolClass,
    firstId: number,
    index: SegmentIndex,
    size: number,
  ): Segment {
    const s = new Segment(dir, cls, firstId, 0);
    s.count = index.ids.length;
    s.lastId = index.ids[s.count - 1] ?? firstId - 1;
    s.size = size;
    s.sealed = true;
    s.acked = new Uint8Array(Math.ceil(s.count / 8));
    s.index = { ids: index.ids, offsets: index.offsets };
    return s;
  }

  get unacked(): number {
    return this.count - this.done;
  }

  /** Bytes of records, the figure that counts toward the spool's bounds. */
  get recordBytes(): number {
    return this.size - SEGMENT_HEADER_BYTES;
  }

  get indexLoaded(): boolean {
    return this.index !== undefined;
  }

  /** Drops the per-record index of a sealed segment; `loadIndex` brings it back from the file. */
  unloadIndex(): void {
    if (this.sealed) this.index = undefined;
  }

  /** Puts back the index read from the file; `count` must be what the file holds now. */
  loadIndex(index: SegmentIndex): void {
    this.index = { ids: index.ids, offsets: index.offsets };
  }

  private loaded(): { ids: Float64Array; offsets: Uint32Array } {
    if (this.index === undefined) throw new Error(`index of ${this.path} is not loaded`);
    return this.index;
  }

  /** Adds records written at `offsets` (ascending ids); `end` is the new file length. */
  appendRecords(ids: readonly number[], offsets: readonly number[], end: number): void {
    const index = this.loaded();
    const needed = this.count + ids.length;
    if (needed > index.ids.length) {
      const capacity = Math.max(needed, index.ids.length * 2);
      const grownIds = new Float64Array(capacity);
      grownIds.set(index.ids.subarray(0, this.count));
      const grownOffsets = new Uint32Array(capacity);
      grownOffsets.set(index.offsets.subarray(0, this.count));
      this.index = { ids: grownIds, offsets: grownOffsets };
    }
    if (Math.ceil(needed / 8) > this.acked.length) {
      const grown = new Uint8Array(Math.max(Math.ceil(needed / 8), this.acked.length * 2));
      grown.set(this.acked);
      this.acked = grown;
    }
    const { ids: allIds, offsets: allOffsets } = this.loaded();
    for (let i = 0; i < ids.length; i++) {
      allIds[this.count + i] = ids[i] ?? 0;
      allOffsets[this.count + i] = offsets[i] ?? 0;
    }
    this.count = needed;
    this.lastId = ids[ids.length - 1] ?? this.lastId;
    this.size = end;
  }

  idAt(ordinal: number): number {
    return this.loaded().ids[ordinal] ?? -1;
  }

  /** File offset of the record at `ordinal`; `count` gives the end of the last record. */
  offsetAt(ordinal: number): number {
    return ordinal >= this.count ? this.size : (this.loaded().offsets[ordinal] ?? this.size);
  }

  /** Ordinal of `id`, or -1 when this segment does not hold it. */
  ordinalOf(id: number): number {
    if (id < this.firstId || id > this.lastId) return -1;
    const ids = this.loaded().ids;
    const at = this.firstOrdinalAbove(id - 1);
    return at < this.count && ids[at] === id ? at : -1;
  }

  /** First ordinal whose id is above `id` (`count` when none is). */
  firstOrdinalAbove(id: number): number {
    const ids = this.loaded().ids;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ids[mid] ?? Infinity) <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  isDone(ordinal: number): boolean {
    return ((this.acked[ordinal >>> 3] ?? 0) & (1 << (ordinal & 7))) !== 0;
  }

  /** Marks the record acknowledged (or dropped, or corrupt); false when it already was. */
  markDone(ordinal: number): boolean {
    if (ordinal < 0 || ordinal >= this.count || this.isDone(ordinal)) return false;
    const byte = ordinal >>> 3;
    this.acked[byte] = (this.acked[byte] ?? 0) | (1 << (ordinal & 7));
    this.done++;
    while (this.head < this.count && this.isDone(this.head)) this.head++;
    return true;
  }
}
