/**
 * Primitives shared by every binary layout: the 3-byte envelope, bounds-checked reads, and a
 * growable writer. All integers are little-endian.
 *
 * Envelope, at the start of every binary payload (MQTT payload and Kafka record value alike):
 *
 *   byte 0  magic 0xFB. No UTF-8 text can start with 0xF5..0xFF, so a payload is never both
 *           binary and JSON, and sniffing needs one byte.
 *   byte 1  layout version of the record type in byte 2 (each record type is versioned on its own,
 *           so a new telemetry batch layout leaves the command layout at its version).
 *   byte 2  record type: 0x01 telemetry batch, 0x10..0x17 single messages (see `codes.ts`).
 *
 * Field encodings used by the layouts:
 *   u8/u16/u32, i16/i32   fixed width, little-endian two's complement
 *   u48                   epoch ms: u32 low word then u16 high word; 2^47 (MAX_EPOCH_MS) fits
 *   id                    u8 byte length, then the id's bytes. Valid ids are ASCII (ID_PATTERN), so
 *                         their UTF-8 and their Latin-1 forms are the same bytes; the reader decodes
 *                         Latin-1 and the pattern check rejects anything else.
 *   text                  u16 byte length, then UTF-8 (decoded strictly: malformed UTF-8 is an
 *                         invalid value, never replaced with U+FFFD)
 *   opt text              u8 0 (absent) or 1 (present, followed by text)
 *   bool                  u8 0 or 1
 *
 * A record must end exactly where its layout ends: trailing bytes are a BAD_FRAME, like missing ones.
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';

export const WIRE_MAGIC = 0xfb;
export const ENVELOPE_BYTES = 3;
export const TELEMETRY_BATCH_RECORD_TYPE = 0x01;

const TWO_POW_32 = 0x1_0000_0000;

export interface Envelope {
  readonly version: number;
  readonly recordType: number;
}

/**
 * Reads the envelope. Order matters for the error codes: a wrong first byte is UNKNOWN_TYPE even
 * when short, while a valid magic followed by too few bytes is a truncation (BAD_FRAME).
 */
export function readEnvelope(bytes: Uint8Array): Envelope {
  const magic = bytes[0];
  if (magic === undefined) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_FRAME,
      'empty payload: a binary record starts with a 3-byte envelope',
      {
        length: 0,
      },
    );
  }
  if (magic !== WIRE_MAGIC) {
    throw new ProtocolError(
      ProtocolErrorCode.UNKNOWN_TYPE,
      `unknown magic byte ${hex(magic)} (expected ${hex(WIRE_MAGIC)})`,
      {
        magic,
      },
    );
  }
  const version = bytes[1];
  const recordType = bytes[2];
  if (version === undefined || recordType === undefined) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_FRAME,
      `truncated envelope: ${bytes.length} of ${ENVELOPE_BYTES} bytes`,
      {
        length: bytes.length,
      },
    );
  }
  return { version, recordType };
}

export function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function readU48(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint16(at + 4, true) * TWO_POW_32;
}

/** `value` must be an integer in [0, 2^48). */
export function writeU48(view: DataView, at: number, value: number): void {
  const low = value % TWO_POW_32;
  view.setUint32(at, low, true);
  view.setUint16(at + 4, (value - low) / TWO_POW_32, true);
}

export function readLatin1(bytes: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = start; i < start + length; i++) s += String.fromCharCode(bytes[i] ?? 0);
  return s;
}

/** Writes the low byte of each UTF-16 unit; only called with ids already checked to be ASCII. */
export function writeAscii(bytes: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) bytes[at + i] = s.charCodeAt(i);
}

export function truncated(field: string, at: number, needed: number, available: number): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.BAD_FRAME,
    `truncated record: ${field} needs ${needed} bytes at offset ${at} but only ${Math.max(available, 0)} remain`,
    { field, offset: at, needed, available },
  );
}

export function invalidValue(
  field: string,
  problem: string,
  details: Readonly<Record<string, unknown>> = {},
): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.INVALID_MESSAGE, `${field}: ${problem}`, { field, ...details });
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const LONE_SURROGATE = /\p{Cs}/u;

/** Bounds-checked cursor over one record. Every read names its field for the error message. */
export class ByteReader {
  private readonly view: DataView;
  private pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
  ) {
    this.view = viewOf(bytes);
    this.pos = start;
  }

  private take(n: number, field: string): number {
    const at = this.pos;
    if (at + n > this.bytes.length) throw truncated(field, at, n, this.bytes.length - at);
    this.pos = at + n;
    return at;
  }

  u8(field: string): number {
    return this.view.getUint8(this.take(1, field));
  }
  u16(field: string): number {
    return this.view.getUint16(this.take(2, field), true);
  }
  i16(field: string): number {
    return this.view.getInt16(this.take(2, field), true);
  }
  u32(field: string): number {
    return this.view.getUint32(this.take(4, field), true);
  }
  i32(field: string): number {
    return this.view.getInt32(this.take(4, field), true);
  }
  u48(field: string): number {
    return readU48(this.view, this.take(6, field));
  }

  bool(field: string): boolean {
    const v = this.u8(field);
    if (v > 1) throw invalidValue(field, `boolean byte must be 0 or 1, got ${v}`);
    return v === 1;
  }

  id(field: string): string {
    const length = this.u8(field);
    return readLatin1(this.bytes, this.take(length, field), length);
  }

  text(field: string): string {
    const length = this.u16(field);
    const at = this.take(length, field);
    try {
      return utf8Decoder.decode(this.bytes.subarray(at, at + length));
    } catch {
      throw invalidValue(field, 'is not valid UTF-8');
    }
  }

  optionalText(field: string): string | undefined {
    return this.bool(field) ? this.text(field) : undefined;
  }

  /** Trailing bytes mean the sender and receiver disagree about the layout. */
  end(): void {
    if (this.pos !== this.bytes.length) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_FRAME,
        `record has ${this.bytes.length - this.pos} trailing bytes after offset ${this.pos}`,
        { offset: this.pos, length: this.bytes.length },
      );
    }
  }
}

/** Growable little-endian writer; callers validate values before writing them. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialCapacity = 128) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = viewOf(this.buf);
  }

  /** May replace `buf`: take the offset first, then read `this.buf`. */
  private reserve(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      next.set(this.buf);
      this.buf = next;
      this.view = viewOf(next);
    }
    this.pos = at + n;
    return at;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.reserve(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  u48(v: number): void {
    const at = this.reserve(6);
    writeU48(this.view, at, v);
  }
  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  id(s: string): void {
    this.u8(s.length);
    const at = this.reserve(s.length);
    writeAscii(this.buf, at, s);
  }

  text(s: string, field: string): void {
    if (LONE_SURROGATE.test(s))
      throw invalidValue(field, 'contains an unpaired UTF-16 surrogate, which UTF-8 cannot carry');
    const encoded = utf8Encoder.encode(s);
    if (encoded.length > 0xffff)
      throw invalidValue(field, `is ${encoded.length} bytes of UTF-8, more than a u16 length allows`);
    this.u16(encoded.length);
    const at = this.reserve(encoded.length);
    this.buf.set(encoded, at);
  }

  optionalText(s: string | undefined, field: string): void {
    this.bool(s !== undefined);
    if (s !== undefined) this.text(s, field);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}
