/**
 * Byte layouts the backends own (not the user's codec):
 *
 * List value (the `value` of a list state's StateChange): the encoded elements, each as
 *   varint(byteLength) ++ bytes, concatenated; no count. An empty list is never stored (deleted).
 *
 * Record (one LevelDB value per (state name, key); kind-independent, so restore needs no kinds):
 *   varint(entryCount) then per entry, in ascending userKey byte order:
 *   varint(userKeyLength) ++ userKey (UTF-8) ++ float64le(writtenAt) ++ varint(valueLength) ++ value
 *   Value, list and aggregating states have exactly one entry, with userKey ''.
 *
 * varint: unsigned LEB128, at most 5 bytes (lengths < 2^32).
 */
import { StateError } from './api.js';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** Reads bytes with bounds checks; any overrun is `StateError('CORRUPT')`. */
class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {}
  get done(): boolean {
    return this.pos >= this.bytes.byteLength;
  }
  varint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.bytes[this.pos++];
      if (b === undefined) throw this.corrupt('truncated varint');
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
    throw this.corrupt('varint longer than 5 bytes');
  }
  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.byteLength) throw this.corrupt(`wants ${n} bytes past the end`);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  float64(): number {
    if (this.pos + 8 > this.bytes.byteLength) throw this.corrupt('truncated float64');
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }
  corrupt(why: string): StateError {
    return new StateError('CORRUPT', `${this.what}: ${why} at byte ${this.pos}`);
  }
}

export function frameList(items: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const item of items) size += varintSize(item.byteLength) + item.byteLength;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const item of items) {
    pos = writeVarint(out, pos, item.byteLength);
    out.set(item, pos);
    pos += item.byteLength;
  }
  return out;
}

export function unframeList(bytes: Uint8Array): Uint8Array[] {
  const r = new Reader(bytes, 'list state');
  const items: Uint8Array[] = [];
  while (!r.done) items.push(r.take(r.varint()));
  return items;
}

export interface RecordEntry {
  readonly userKey: string;
  readonly writtenAt: number;
  readonly value: Uint8Array;
}

/** `entries` must already be in ascending userKey byte order. */
export function encodeRecord(entries: readonly RecordEntry[]): Uint8Array {
  const only = entries[0];
  if (entries.length === 1 && only !== undefined && only.userKey === '') {
    // Value, list and aggregating states: [1][0][writtenAt][len][value].
    const len = only.value.byteLength;
    const out = new Uint8Array(10 + varintSize(len) + len);
    out[0] = 1;
    new DataView(out.buffer).setFloat64(2, only.writtenAt, true);
    out.set(only.value, writeVarint(out, 10, len));
    return out;
  }
  const keys = entries.map((e) => utf8.encode(e.userKey));
  let size = varintSize(entries.length);
  entries.forEach((e, i) => {
    const k = keys[i] as Uint8Array;
    size += varintSize(k.byteLength) + k.byteLength + 8 + varintSize(e.value.byteLength) + e.value.byteLength;
  });
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let pos = writeVarint(out, 0, entries.length);
  entries.forEach((e, i) => {
    const k = keys[i] as Uint8Array;
    pos = writeVarint(out, pos, k.byteLength);
    out.set(k, pos);
    pos += k.byteLength;
    view.setFloat64(pos, e.writtenAt, true);
    pos += 8;
    pos = writeVarint(out, pos, e.value.byteLength);
    out.set(e.value, pos);
    pos += e.value.byteLength;
  });
  return out;
}

export function decodeRecord(bytes: Uint8Array, what: string): RecordEntry[] {
  const r = new Reader(bytes, what);
  const n = r.varint();
  const out: RecordEntry[] = [];
  for (let i = 0; i < n; i++) {
    let userKey: string;
    try {
      userKey = utf8Decoder.decode(r.take(r.varint()));
    } catch (err) {
      if (err instanceof StateError) throw err;
      throw r.corrupt('user key is not UTF-8');
    }
    const writtenAt = r.float64();
    const value = r.take(r.varint());
    out.push({ userKey, writtenAt, value });
  }
  if (!r.done) throw r.corrupt('trailing bytes');
  return out;
}

/**
 * Compares strings in the byte order of their UTF-8 encodings (= code point order), which differs
 * from JavaScript's UTF-16 order only between surrogates and U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}
