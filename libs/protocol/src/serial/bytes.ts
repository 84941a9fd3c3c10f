/**
 * Little-endian field readers and writers over one frame body, with the checks every frame needs:
 * the writer refuses to grow a body past its capacity (TOO_LARGE), the reader refuses to read past
 * the payload (BAD_FRAME, naming the field that was cut off).
 *
 * Every multi-byte integer on the serial wire is little-endian, the byte order of the robot's
 * Cortex-M microcontroller, so the firmware can copy fields straight from its structs.
 * u48 holds a millisecond timestamp: low 32 bits first, then high 16 bits.
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';

const TWO_POW_32 = 2 ** 32;
const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF as text instead of eating it, so strings round-trip exactly.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Bytes `s` takes in UTF-8, or -1 when `s` holds a lone surrogate: UTF-8 cannot carry one (an
 * encoder would substitute U+FFFD), so such a string would not survive the round trip.
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c < 0xd800 || c > 0xdfff) n += 3;
    else if (c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else return -1;
  }
  return n;
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class ByteWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private len = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = viewOf(this.bytes);
  }

  get length(): number {
    return this.len;
  }

  reset(): void {
    this.len = 0;
  }

  u8(v: number): void {
    this.bytes[this.claim(1)] = v;
  }

  u16(v: number): void {
    this.view.setUint16(this.claim(2), v, true);
  }

  i16(v: number): void {
    this.view.setInt16(this.claim(2), v, true);
  }

  u32(v: number): void {
    this.view.setUint32(this.claim(4), v, true);
  }

  i32(v: number): void {
    this.view.setInt32(this.claim(4), v, true);
  }

  /** `v` must be an integer in [0, 2^48). */
  u48(v: number): void {
    const at = this.claim(6);
    this.view.setUint32(at, v % TWO_POW_32, true);
    this.view.setUint16(at + 4, Math.floor(v / TWO_POW_32), true);
  }

  /** Length byte, then the characters of a string already known to be ASCII and at most 255 long. */
  ascii(s: string): void {
    const n = s.length;
    let at = this.claim(1 + n);
    this.bytes[at++] = n;
    for (let i = 0; i < n; i++) this.bytes[at++] = s.charCodeAt(i);
  }

  /** Length byte, then `s` in UTF-8; `byteLength` is `utf8Length(s)`, at most 255. */
  utf8(s: string, byteLength: number): void {
    const at = this.claim(1 + byteLength);
    this.bytes[at] = byteLength;
    utf8Encoder.encodeInto(s, this.bytes.subarray(at + 1, at + 1 + byteLength));
  }

  private claim(n: number): number {
    const at = this.len;
    if (at + n > this.bytes.length) {
      throw new ProtocolError(
        ProtocolErrorCode.TOO_LARGE,
        `serial frame body would exceed its limit of ${this.bytes.length} bytes`,
        { limit: this.bytes.length },
      );
    }
    this.len = at + n;
    return at;
  }
}

export class ByteReader {
  private at: number;

  /**
   * Reads `bytes[start, end)`, the payload of a frame of type `frameType` (named in errors). `view`
   * is a DataView over exactly `bytes`: a decoder that reuses one buffer passes the same view for
   * every frame instead of allocating one per frame.
   */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly view: DataView,
    start: number,
    private readonly end: number,
    private readonly frameType: string,
  ) {
    this.at = start;
  }

  u8(field: string): number {
    return this.bytes[this.take(field, 1)]!;
  }

  u16(field: string): number {
    return this.view.getUint16(this.take(field, 2), true);
  }

  i16(field: string): number {
    return this.view.getInt16(this.take(field, 2), true);
  }

  u32(field: string): number {
    return this.view.getUint32(this.take(field, 4), true);
  }

  i32(field: string): number {
    return this.view.getInt32(this.take(field, 4), true);
  }

  u48(field: string): number {
    const at = this.take(field, 6);
    return this.view.getUint16(at + 4, true) * TWO_POW_32 + this.view.getUint32(at, true);
  }

  /** `n` bytes as a string of char codes; only the caller's pattern check decides if it is ASCII. */
  ascii(field: string, n: number): string {
    const at = this.take(field, n);
    let s = '';
    for (let i = at; i < at + n; i++) s += String.fromCharCode(this.bytes[i]!);
    return s;
  }

  /** `n` bytes of UTF-8, or undefined when they are not valid UTF-8. */
  utf8(field: string, n: number): string | undefined {
    const at = this.take(field, n);
    try {
      return utf8Decoder.decode(this.bytes.subarray(at, at + n));
    } catch {
      return undefined;
    }
  }

  /** Throws BAD_FRAME when the payload is longer than its fields. */
  done(): void {
    if (this.at !== this.end) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_FRAME,
        `serial ${this.frameType} frame has ${this.end - this.at} byte(s) after its last field`,
        { frameType: this.frameType, trailing: this.end - this.at },
      );
    }
  }

  private take(field: string, n: number): number {
    const at = this.at;
    if (at + n > this.end) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_FRAME,
        `serial ${this.frameType} frame truncated: ${field} needs ${n} byte(s), ${this.end - at} left`,
        { frameType: this.frameType, field },
      );
    }
    this.at = at + n;
    return at;
  }
}
