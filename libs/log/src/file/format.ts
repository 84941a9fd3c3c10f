/**
 * The on-disk format of the file-backed log. Codecs only: bytes in, values out, no I/O.
 *
 * A partition is a folder of segments. A segment `<base>.log` (base = its first offset, 20 decimal
 * digits) is a sequence of frames; its sparse index `<base>.idx` maps offsets to frame positions.
 *
 * Frame (integers big-endian):
 * ```
 *   0  u32  bodyLength           bytes after this 8-byte header
 *   4  u32  crc32(body)          CRC-32/ISO-HDLC (zlib, gzip, PNG)
 *   8  body:
 *      0  u8   version           1
 *      1  u8   attributes        bit 0: key is null, bit 1: value is null (tombstone)
 *      2  i64  offset            absolute offset in the partition
 *     10  i64  timestamp         ms since the epoch (CreateTime)
 *     18  u32  keyLength,   key bytes          (0 when null)
 *         u32  valueLength, value bytes        (0 when null)
 *         u16  headerCount
 *         per header: u16 nameLength, name (UTF-8), u32 valueLength, value bytes
 * ```
 * Every frame carries its own offset: a compacted segment has gaps, and a recovering writer checks
 * that the offsets it finds follow each other.
 *
 * Index entry (8 bytes): u32 offset - base, u32 frame position; one entry each time at least
 * `indexIntervalBytes` were written since the previous one. The index is a hint, never trusted:
 * a reader checks that the frame at the position carries that offset, else scans from position 0.
 *
 * Head `head` (28 bytes), the partition's commit point, rewritten in place after every fsync:
 * ```
 *   0  u64  nextOffset   high watermark: offsets below it are durable and readable
 *   8  u64  activeBase   base of the segment being written
 *  16  u64  activeSize   committed bytes of that segment
 *  24  u32  crc32(bytes 0..23)
 * ```
 */
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_BYTES = 8;
const BODY_FIXED_BYTES = 1 + 1 + 8 + 8 + 4 + 4 + 2;
const VERSION = 1;
const KEY_NULL = 0x01;
const VALUE_NULL = 0x02;
/** A length field above this is garbage (a torn or overwritten tail), not a record. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export const INDEX_ENTRY_BYTES = 8;
export const HEAD_BYTES = 28;

/** A record ready to be framed: bytes only, the offset is given when it is written. */
export interface FrameInput {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly (readonly [Buffer, Buffer])[];
  readonly timestamp: number;
}

export interface DecodedFrame {
  readonly offset: bigint;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Uint8Array>>;
}

export type DecodeResult =
  | { readonly kind: 'frame'; readonly frame: DecodedFrame; readonly end: number }
  /** The buffer ends inside the frame; `needed` bytes from its start would hold it. */
  | { readonly kind: 'incomplete'; readonly needed: number }
  | { readonly kind: 'corrupt'; readonly reason: string };

export function frameSize(input: FrameInput): number {
  let size =
    FRAME_HEADER_BYTES + BODY_FIXED_BYTES + (input.key?.byteLength ?? 0) + (input.value?.byteLength ?? 0);
  for (const [name, value] of input.headers) size += 2 + name.byteLength + 4 + value.byteLength;
  return size;
}

/** Writes one frame at `at` (the caller sized `out` with frameSize); returns the position after it. */
export function encodeFrame(input: FrameInput, offset: bigint, out: Buffer, at: number): number {
  const body = at + FRAME_HEADER_BYTES;
  let p = body;
  out.writeUInt8(VERSION, p);
  out.writeUInt8((input.key === null ? KEY_NULL : 0) | (input.value === null ? VALUE_NULL : 0), p + 1);
  out.writeBigInt64BE(offset, p + 2);
  out.writeBigInt64BE(BigInt(input.timestamp), p + 10);
  p += 18;
  p = writeBytes(out, p, input.key);
  p = writeBytes(out, p, input.value);
  out.writeUInt16BE(input.headers.length, p);
  p += 2;
  for (const [name, value] of input.headers) {
    out.writeUInt16BE(name.byteLength, p);
    p += 2;
    p += name.copy(out, p);
    p = writeBytes(out, p, value);
  }
  out.writeUInt32BE(p - body, at);
  out.writeUInt32BE(crc32(out.subarray(body, p)), at + 4);
  return p;
}

function writeBytes(out: Buffer, at: number, bytes: Buffer | null): number {
  out.writeUInt32BE(bytes?.byteLength ?? 0, at);
  return at + 4 + (bytes === null ? 0 : bytes.copy(out, at + 4));
}

/**
 * Decodes the frame starting at `at`. Keys, values and header values are views into `buf`, not
 * copies. A frame whose CRC does not match is `corrupt`; one cut off by the end of `buf` is
 * `incomplete` (the caller reads more, or, at the end of a file, has found a torn write).
 */
export function decodeFrame(buf: Buffer, at: number): DecodeResult {
  if (buf.length - at < FRAME_HEADER_BYTES) return { kind: 'incomplete', needed: FRAME_HEADER_BYTES };
  const length = buf.readUInt32BE(at);
  if (length < BODY_FIXED_BYTES || length > MAX_FRAME_BYTES) {
    return { kind: 'corrupt', reason: `frame length ${length} out of bounds` };
  }
  const end = at + FRAME_HEADER_BYTES + length;
  if (end > buf.length) return { kind: 'incomplete', needed: FRAME_HEADER_BYTES + length };
  const body = buf.subarray(at + FRAME_HEADER_BYTES, end);
  if (crc32(body) !== buf.readUInt32BE(at + 4)) return { kind: 'corrupt', reason: 'CRC mismatch' };
  if (body.readUInt8(0) !== VERSION)
    return { kind: 'corrupt', reason: `unknown frame version ${body.readUInt8(0)}` };
  const attributes = body.readUInt8(1);
  const offset = body.readBigInt64BE(2);
  const timestamp = Number(body.readBigInt64BE(10));
  const cursor = { p: 18 };
  const key = readBytes(body, cursor);
  const value = readBytes(body, cursor);
  if (key === undefined || value === undefined || cursor.p + 2 > body.length) {
    return { kind: 'corrupt', reason: 'record fields overrun the frame' };
  }
  const count = body.readUInt16BE(cursor.p);
  cursor.p += 2;
  const headers: Record<string, Uint8Array> = {};
  for (let i = 0; i < count; i++) {
    if (cursor.p + 2 > body.length) return { kind: 'corrupt', reason: 'header overruns the frame' };
    const nameLength = body.readUInt16BE(cursor.p);
    cursor.p += 2;
    if (cursor.p + nameLength > body.length) return { kind: 'corrupt', reason: 'header overruns the frame' };
    const name = body.toString('utf8', cursor.p, cursor.p + nameLength);
    cursor.p += nameLength;
    const headerValue = readBytes(body, cursor);
    if (headerValue === undefined) return { kind: 'corrupt', reason: 'header overruns the frame' };
    headers[name] = headerValue;
  }
  if (cursor.p !== body.length) return { kind: 'corrupt', reason: 'trailing bytes in the frame' };
  return {
    kind: 'frame',
    frame: {
      offset,
      timestamp,
      key: (attributes & KEY_NULL) !== 0 ? null : key,
      value: (attributes & VALUE_NULL) !== 0 ? null : value,
      headers,
    },
    end,
  };
}

function readBytes(body: Buffer, cursor: { p: number }): Buffer | undefined {
  if (cursor.p + 4 > body.length) return undefined;
  const length = body.readUInt32BE(cursor.p);
  const start = cursor.p + 4;
  if (start + length > body.length) return undefined;
  cursor.p = start + length;
  return body.subarray(start, start + length);
}

/** The partition's commit point (see the head layout above). */
export interface Head {
  readonly nextOffset: bigint;
  readonly activeBase: bigint;
  readonly activeSize: number;
}

export function encodeHead(head: Head): Buffer {
  const out = Buffer.alloc(HEAD_BYTES);
  out.writeBigUInt64BE(head.nextOffset, 0);
  out.writeBigUInt64BE(head.activeBase, 8);
  out.writeBigUInt64BE(BigInt(head.activeSize), 16);
  out.writeUInt32BE(crc32(out.subarray(0, 24)), 24);
  return out;
}

/** undefined: not a whole head (torn by a concurrent rewrite, or damaged). */
export function decodeHead(buf: Buffer): Head | undefined {
  if (buf.length < HEAD_BYTES || crc32(buf.subarray(0, 24)) !== buf.readUInt32BE(24)) return undefined;
  return {
    nextOffset: buf.readBigUInt64BE(0),
    activeBase: buf.readBigUInt64BE(8),
    activeSize: Number(buf.readBigUInt64BE(16)),
  };
}

export function encodeIndexEntry(relativeOffset: number, position: number, out: Buffer, at: number): void {
  out.writeUInt32BE(relativeOffset, at);
  out.writeUInt32BE(position, at + 4);
}

/**
 * The number of the last of the first `entries` index entries whose offset is at most `offset`
 * (where a scan for `offset` may start), or -1 when none is.
 */
export function indexLookup(index: Buffer, entries: number, base: bigint, offset: bigint): number {
  let lo = 0;
  let hi = entries - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (base + BigInt(index.readUInt32BE(mid * INDEX_ENTRY_BYTES)) <= offset) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export function readIndexEntry(
  index: Buffer,
  entry: number,
  base: bigint,
): { readonly offset: bigint; readonly position: number } {
  return {
    offset: base + BigInt(index.readUInt32BE(entry * INDEX_ENTRY_BYTES)),
    position: index.readUInt32BE(entry * INDEX_ENTRY_BYTES + 4),
  };
}

const SEGMENT_NAME = /^(\d{20})\.log$/;

export const segmentFileName = (base: bigint, ext: 'log' | 'idx'): string =>
  `${base.toString().padStart(20, '0')}.${ext}`;

export function parseSegmentFileName(name: string): bigint | undefined {
  const match = SEGMENT_NAME.exec(name);
  return match?.[1] === undefined ? undefined : BigInt(match[1]);
}
