/**
 * On-disk format of the file spool, version 1. Pure: bytes in, values out, no I/O.
 *
 * A spool directory holds (see README.md):
 *
 *   spool.meta                        two 64-byte slots written in turn; the valid one with the
 *                                     higher sequence number wins (a torn slot leaves the other)
 *   <class>-<first id, 20 digits>.seg append-only records of one class, `class` is telemetry|priority
 *   <class>-<first id, 20 digits>.ack ids of that segment's records the broker acknowledged
 *   LOCK                              the owning process (pid, boot id)
 *
 * Integers are little-endian. CRC-32 is the IEEE polynomial of zlib/gzip/PNG (`zlib.crc32`).
 *
 * Segment (.seg):
 *   header, 16 bytes
 *     0   4  magic "FSPS"
 *     4   1  format version = 1
 *     5   1  class: 0 telemetry, 1 priority
 *     6   2  zero
 *     8   8  id of the first record (the number in the file name)
 *   records, back to back, each
 *     0   4  CRC-32 of bytes 4 .. 16+n of this record (length, id and payload)
 *     4   4  n = payload length, at most MAX_RECORD_BYTES
 *     8   8  id: >= the first id, and greater than the previous record's id in this file
 *     16  n  payload
 *
 * Records are only ever appended, so after a crash the only damage is at the tail: a short record
 * or one whose CRC does not match (a torn write, or a zero-filled block that a file system exposes
 * after power loss — twelve zero bytes do not have CRC 0, and id 0 is never valid). Scanning stops at
 * the first such record; everything from there on is the torn tail and is cut off.
 *
 * Ack log (.ack):
 *   header, 8 bytes
 *     0   4  magic "FSPA"
 *     4   1  format version = 1
 *     5   3  zero
 *   batches, back to back, each
 *     0   4  CRC-32 of bytes 4 .. 8+8c
 *     4   4  c = number of ids, 1 .. MAX_ACK_BATCH
 *     8  8c  ids
 *
 * Meta (spool.meta), two slots of 64 bytes at offsets 0 and 64:
 *     0   4  magic "FSPM"
 *     4   1  format version = 1
 *     5   3  zero
 *     8   8  sequence number of this write (slot = sequence % 2)
 *     16  8  id lease end: no id at or above it was handed out before this write
 *     24  8  telemetry records dropped because the spool was full, since it was created
 *     32  8  records lost to corruption (torn tails cut on open, CRC mismatches on read)
 *     40  20 zero
 *     60  4  CRC-32 of bytes 0 .. 60
 *
 * Ids are held as JavaScript numbers inside the spool (exact up to 2^53, far beyond what a robot
 * appends) and written as u64; a stored id above 2^53 - 1 is treated as corrupt.
 */
import { crc32 } from 'node:zlib';
import type { SpoolClass } from './spool.js';

export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 16;
export const ACK_HEADER_BYTES = 8;
export const ACK_BATCH_HEADER_BYTES = 8;
export const META_SLOT_BYTES = 64;
export const META_FILE_BYTES = 2 * META_SLOT_BYTES;
/** Largest payload of one record (16 MiB); a length field above it marks a torn record. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** Most ids in one ack batch. */
export const MAX_ACK_BATCH = 1 << 20;

const SEGMENT_MAGIC = 0x53505346; // "FSPS" read as u32 LE
const ACK_MAGIC = 0x41505346; // "FSPA"
const META_MAGIC = 0x4d505346; // "FSPM"
const TWO_32 = 0x1_0000_0000;
/** Highest value of the upper 32 bits of an id that keeps it a safe integer. */
const MAX_SAFE_HIGH = 0x1f_ffff;

const CLASS_CODE: Record<SpoolClass, number> = { telemetry: 0, priority: 1 };
const CODE_CLASS: readonly SpoolClass[] = ['telemetry', 'priority'];

/** Bytes one record with a payload of `payloadBytes` takes in a segment. */
export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + payloadBytes;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function setU64(dv: DataView, at: number, value: number): void {
  dv.setUint32(at, value % TWO_32, true);
  dv.setUint32(at + 4, Math.floor(value / TWO_32), true);
}

/** The u64 at `at`, or -1 when it does not fit a safe integer. */
function getU64(dv: DataView, at: number): number {
  const high = dv.getUint32(at + 4, true);
  if (high > MAX_SAFE_HIGH) return -1;
  return high * TWO_32 + dv.getUint32(at, true);
}

// ---------------------------------------------------------------------------------------------
// Segments

export interface SegmentHeader {
  readonly cls: SpoolClass;
  readonly firstId: number;
}

export function encodeSegmentHeader(header: SegmentHeader, into: Uint8Array, at = 0): void {
  const dv = view(into);
  dv.setUint32(at, SEGMENT_MAGIC, true);
  dv.setUint8(at + 4, FORMAT_VERSION);
  dv.setUint8(at + 5, CLASS_CODE[header.cls]);
  dv.setUint16(at + 6, 0, true);
  setU64(dv, at + 8, header.firstId);
}

/** The header at the start of `bytes`, or undefined when it is short, foreign or of another version. */
export function decodeSegmentHeader(bytes: Uint8Array): SegmentHeader | undefined {
  if (bytes.byteLength < SEGMENT_HEADER_BYTES) return undefined;
  const dv = view(bytes);
  if (dv.getUint32(0, true) !== SEGMENT_MAGIC || dv.getUint8(4) !== FORMAT_VERSION) return undefined;
  const cls = CODE_CLASS[dv.getUint8(5)];
  const firstId = getU64(dv, 8);
  if (cls === undefined || dv.getUint16(6, true) !== 0 || firstId < 1) return undefined;
  return { cls, firstId };
}

/** Writes one record at `at` of `into` (which must have `recordBytes(payload.byteLength)` room); returns the end. */
export function encodeRecord(into: Uint8Array, at: number, id: number, payload: Uint8Array): number {
  const dv = view(into);
  dv.setUint32(at + 4, payload.byteLength, true);
  setU64(dv, at + 8, id);
  into.set(payload, at + RECORD_HEADER_BYTES);
  const end = at + RECORD_HEADER_BYTES + payload.byteLength;
  dv.setUint32(at, crc32(into.subarray(at + 4, end)), true);
  return end;
}

/** Why a record could not be read; everything from it on is a torn tail. */
export type RecordFault = 'short' | 'length' | 'crc' | 'id';

export type DecodedRecord =
  | {
      readonly ok: true;
      readonly id: number;
      /** Payload, a view into the input. */
      readonly payload: Uint8Array;
      /** Offset just past the record. */
      readonly end: number;
    }
  | { readonly ok: false; readonly fault: RecordFault };

/**
 * The record at `at` of `bytes`. `afterId` is the previous record's id (or first id - 1): a record
 * whose id is not above it is rejected, because an append-only file can only hold increasing ids.
 */
export function decodeRecord(bytes: Uint8Array, at: number, afterId: number): DecodedRecord {
  if (bytes.byteLength - at < RECORD_HEADER_BYTES) return { ok: false, fault: 'short' };
  const dv = view(bytes);
  const length = dv.getUint32(at + 4, true);
  if (length > MAX_RECORD_BYTES) return { ok: false, fault: 'length' };
  const end = at + RECORD_HEADER_BYTES + length;
  if (end > bytes.byteLength) return { ok: false, fault: 'short' };
  if (crc32(bytes.subarray(at + 4, end)) !== dv.getUint32(at, true)) return { ok: false, fault: 'crc' };
  const id = getU64(dv, at + 8);
  if (id <= afterId) return { ok: false, fault: 'id' };
  return { ok: true, id, payload: bytes.subarray(at + RECORD_HEADER_BYTES, end), end };
}

export interface SegmentScan {
  /** Undefined when the header itself is torn or foreign: the whole file is unreadable. */
  readonly header: SegmentHeader | undefined;
  readonly ids: Float64Array;
  /** File offset of each record. */
  readonly offsets: Uint32Array;
  readonly count: number;
  /** Length of the valid prefix of the file; bytes past it are a torn tail. */
  readonly validEnd: number;
  /** Why the scan stopped before the end of the input, if it did. */
  readonly fault: RecordFault | 'header' | undefined;
}

/**
 * Reads a whole segment file. `expected` (from the file name) must match the header. Records are
 * read up to the first fault; a file whose header does not check out has no valid bytes at all.
 */
export function scanSegment(bytes: Uint8Array, expected?: SegmentHeader): SegmentScan {
  const header = decodeSegmentHeader(bytes);
  if (
    header === undefined ||
    (expected !== undefined && (header.cls !== expected.cls || header.firstId !== expected.firstId))
  ) {
    const none = { ids: new Float64Array(0), offsets: new Uint32Array(0), count: 0 };
    return { header: undefined, ...none, validEnd: 0, fault: 'header' };
  }
  let capacity = Math.max(16, Math.ceil((bytes.byteLength - SEGMENT_HEADER_BYTES) / 64));
  let ids = new Float64Array(capacity);
  let offsets = new Uint32Array(capacity);
  let count = 0;
  let at = SEGMENT_HEADER_BYTES;
  let last = header.firstId - 1;
  let fault: RecordFault | undefined;
  while (at < bytes.byteLength) {
    const r = decodeRecord(bytes, at, last);
    if (!r.ok) {
      fault = r.fault;
      break;
    }
    if (count === capacity) {
      capacity *= 2;
      ids = grow(ids, capacity);
      offsets = grow(offsets, capacity);
    }
    ids[count] = r.id;
    offsets[count] = at;
    count++;
    last = r.id;
    at = r.end;
  }
  return { header, ids: ids.slice(0, count), offsets: offsets.slice(0, count), count, validEnd: at, fault };
}

function grow<T extends Float64Array | Uint32Array>(array: T, capacity: number): T {
  const bigger = new (array.constructor as new (n: number) => T)(capacity);
  bigger.set(array);
  return bigger;
}

// ---------------------------------------------------------------------------------------------
// Ack logs

export function encodeAckHeader(): Uint8Array {
  const bytes = new Uint8Array(ACK_HEADER_BYTES);
  const dv = view(bytes);
  dv.setUint32(0, ACK_MAGIC, true);
  dv.setUint8(4, FORMAT_VERSION);
  return bytes;
}

/** One ack batch of `ids` (1 .. MAX_ACK_BATCH of them), after the ack-log header when `withHeader`. */
export function encodeAckBatch(ids: readonly number[], withHeader = false): Uint8Array {
  if (ids.length < 1 || ids.length > MAX_ACK_BATCH) throw new RangeError(`ack batch of ${ids.length} ids`);
  const start = withHeader ? ACK_HEADER_BYTES : 0;
  const bytes = new Uint8Array(start + ACK_BATCH_HEADER_BYTES + 8 * ids.length);
  if (withHeader) bytes.set(encodeAckHeader());
  const dv = view(bytes);
  dv.setUint32(start + 4, ids.length, true);
  ids.forEach((id, i) => setU64(dv, start + ACK_BATCH_HEADER_BYTES + 8 * i, id));
  dv.setUint32(start, crc32(bytes.subarray(start + 4)), true);
  return bytes;
}

export interface AckLogScan {
  /** False when the header is short or foreign: no ids can be trusted and the file is rewritten. */
  readonly headerOk: boolean;
  readonly ids: readonly number[];
  /** Length of the valid prefix; a torn batch past it is cut off before more batches go after it. */
  readonly validEnd: number;
}

export function scanAckLog(bytes: Uint8Array): AckLogScan {
  if (bytes.byteLength < ACK_HEADER_BYTES) return { headerOk: false, ids: [], validEnd: 0 };
  const dv = view(bytes);
  if (dv.getUint32(0, true) !== ACK_MAGIC || dv.getUint8(4) !== FORMAT_VERSION) {
    return { headerOk: false, ids: [], validEnd: 0 };
  }
  const ids: number[] = [];
  let at = ACK_HEADER_BYTES;
  while (bytes.byteLength - at >= ACK_BATCH_HEADER_BYTES) {
    const count = dv.getUint32(at + 4, true);
    const end = at + ACK_BATCH_HEADER_BYTES + 8 * count;
    if (count < 1 || count > MAX_ACK_BATCH || end > bytes.byteLength) break;
    if (crc32(bytes.subarray(at + 4, end)) !== dv.getUint32(at, true)) break;
    for (let i = 0; i < count; i++) {
      const id = getU64(dv, at + ACK_BATCH_HEADER_BYTES + 8 * i);
      if (id > 0) ids.push(id);
    }
    at = end;
  }
  return { headerOk: true, ids, validEnd: at };
}

// ---------------------------------------------------------------------------------------------
// Meta

export interface SpoolMeta {
  readonly sequence: number;
  readonly leaseEnd: number;
  readonly droppedTelemetry: number;
  readonly corruptRecords: number;
}

/** The 64-byte slot for `meta`; it goes at `(meta.sequence % 2) * META_SLOT_BYTES`. */
export function encodeMetaSlot(meta: SpoolMeta): Uint8Array {
  const bytes = new Uint8Array(META_SLOT_BYTES);
  const dv = view(bytes);
  dv.setUint32(0, META_MAGIC, true);
  dv.setUint8(4, FORMAT_VERSION);
  setU64(dv, 8, meta.sequence);
  setU64(dv, 16, meta.leaseEnd);
  setU64(dv, 24, meta.droppedTelemetry);
  setU64(dv, 32, meta.corruptRecords);
  dv.setUint32(60, crc32(bytes.subarray(0, 60)), true);
  return bytes;
}

export function decodeMetaSlot(bytes: Uint8Array): SpoolMeta | undefined {
  if (bytes.byteLength < META_SLOT_BYTES) return undefined;
  const dv = view(bytes);
  if (dv.getUint32(0, true) !== META_MAGIC || dv.getUint8(4) !== FORMAT_VERSION) return undefined;
  if (crc32(bytes.subarray(0, 60)) !== dv.getUint32(60, true)) return undefined;
  const [sequence, leaseEnd, droppedTelemetry, corruptRecords] = [8, 16, 24, 32].map((at) => getU64(dv, at));
  if (sequence === undefined || leaseEnd === undefined || droppedTelemetry === undefined) return undefined;
  if (corruptRecords === undefined || Math.min(sequence, leaseEnd, droppedTelemetry, corruptRecords) < 0) {
    return undefined;
  }
  return { sequence, leaseEnd, droppedTelemetry, corruptRecords };
}

/** The newest valid slot of a meta file, or undefined when neither slot checks out. */
export function decodeMetaFile(bytes: Uint8Array): SpoolMeta | undefined {
  const a = decodeMetaSlot(bytes.subarray(0, META_SLOT_BYTES));
  const b = decodeMetaSlot(bytes.subarray(META_SLOT_BYTES, META_FILE_BYTES));
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.sequence >= b.sequence ? a : b;
}
