/**
 * The serial frame envelope, the same for every schema version:
 *
 *   [00] COBS( version u8 | version-specific bytes | crc u16 LE ) 00
 *
 * - The first decoded byte is always the version and the last two are always CRC-16/CCITT-FALSE of
 *   everything before them, so a receiver checks the CRC before it trusts the version byte: line
 *   noise that hits the version is reported as BAD_CHECKSUM, never as an unknown version.
 * - A decoded body is 4..512 bytes. 512 because the largest v1 body is 278 bytes (an ack with a
 *   64-byte command id and a 200-byte detail), so every value the cloud schemas allow fits, with room
 *   for a v2 to grow; it keeps the firmware's buffers at 512 B receive + 515 B transmit, and at
 *   115200 baud (8N1) the longest frame takes 45 ms on the wire. A run without a 00 that would
 *   decode to a 513th byte is noise: it is dropped there, and nothing past 512 bytes is ever held.
 * - Frames are written in the current version (1); decoding dispatches on the version byte, so old
 *   firmware keeps working after a v2 exists.
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { ByteWriter, viewOf } from './bytes.js';
import { CobsDecoder, cobsEncode, cobsMaxEncodedLength } from './cobs.js';
import { crc16CcittFalse } from './crc16.js';
import { decodeFrameV1, encodeFrameV1, SERIAL_FRAME_VERSION_1, type SerialFrameV1 } from './frame-v1.js';

/** Every frame the serial link carries, in the current schema version. */
export type SerialFrame = SerialFrameV1;

/** The byte that ends (and optionally starts) every frame on the wire. */
export const SERIAL_FRAME_DELIMITER = 0x00;
/** The version `encodeSerialFrame` writes. */
export const SERIAL_FRAME_VERSION = SERIAL_FRAME_VERSION_1;
/** Largest decoded body: version, type, payload and CRC. */
export const MAX_SERIAL_FRAME_SIZE = 512;
/** Smallest decoded body: version, type and CRC with an empty payload. */
export const MIN_SERIAL_FRAME_SIZE = 4;
/** Largest frame on the wire, COBS overhead included, delimiters excluded (515). */
export const MAX_ENCODED_SERIAL_FRAME_SIZE = cobsMaxEncodedLength(MAX_SERIAL_FRAME_SIZE);

export interface EncodeSerialFrameOptions {
  /**
   * Also write a 00 before the frame. A receiver then drops whatever noise preceded the frame as one
   * corrupt run instead of losing the frame to it, and a corrupted delimiter costs only the frame it
   * ends. Decoders accept frames with and without it.
   */
  leadingDelimiter?: boolean;
}

const bodyWriter = new ByteWriter(MAX_SERIAL_FRAME_SIZE);
const wireScratch = new Uint8Array(1 + MAX_ENCODED_SERIAL_FRAME_SIZE + 1);

/**
 * Encodes one frame for the wire: COBS of the body, then the 00 delimiter (and a 00 before it with
 * `leadingDelimiter`). Throws INVALID_MESSAGE naming the field for a value outside the schema.
 *
 * @example
 * const bytes = encodeSerialFrame(
 *   { type: 'command', commandId: 'cmd-1', action: { type: 'go_to_dock' }, deadlineRobotTime: 1_700_000_030_000 },
 *   { leadingDelimiter: true },
 * );
 * port.write(bytes);
 */
export function encodeSerialFrame(frame: SerialFrame, options: EncodeSerialFrameOptions = {}): Uint8Array {
  const w = bodyWriter;
  w.reset();
  encodeFrameV1(frame, w);
  w.u16(crc16CcittFalse(w.bytes, 0, w.length));
  const lead = options.leadingDelimiter === true ? 1 : 0;
  wireScratch[0] = SERIAL_FRAME_DELIMITER;
  const n = cobsEncode(w.bytes.subarray(0, w.length), wireScratch, lead);
  wireScratch[lead + n] = SERIAL_FRAME_DELIMITER;
  return wireScratch.slice(0, lead + n + 1);
}

const oneShotDecoder = new CobsDecoder(MAX_SERIAL_FRAME_SIZE);
const oneShotView = viewOf(oneShotDecoder.buffer);

/**
 * Decodes exactly one frame as `encodeSerialFrame` wrote it: COBS bytes with or without its
 * delimiters. For a byte stream use `SerialFrameDecoder`.
 * Throws ProtocolError (BAD_FRAME, BAD_CHECKSUM, UNKNOWN_VERSION, UNKNOWN_TYPE, TOO_LARGE,
 * INVALID_MESSAGE).
 *
 * @example
 * decodeSerialFrame(encodeSerialFrame(frame)); // deep-equals frame
 */
export function decodeSerialFrame(bytes: Uint8Array): SerialFrame {
  let start = 0;
  let end = bytes.length;
  if (bytes[start] === SERIAL_FRAME_DELIMITER) start++;
  if (end > start && bytes[end - 1] === SERIAL_FRAME_DELIMITER) end--;
  const inner = bytes.indexOf(SERIAL_FRAME_DELIMITER, start);
  if (inner !== -1 && inner < end) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_FRAME,
      `expected one serial frame but found a 00 delimiter inside it at offset ${inner}`,
      { offset: inner },
    );
  }
  const cobs = oneShotDecoder;
  if (!cobs.write(bytes, start, end)) throw tooLarge();
  return decodeSerialFrameBody(cobs.buffer, cobs.finish(), oneShotView);
}

/**
 * Checks and decodes the body in `body[0, length)` (COBS already removed): size, CRC, version, then
 * the version's own layout. `view` is a DataView over `body`, kept by callers that reuse `body`.
 */
export function decodeSerialFrameBody(body: Uint8Array, length: number, view = viewOf(body)): SerialFrame {
  if (length < MIN_SERIAL_FRAME_SIZE) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_FRAME,
      `serial frame of ${length} byte(s) is shorter than the ${MIN_SERIAL_FRAME_SIZE}-byte minimum (version, type, CRC)`,
      { length },
    );
  }
  if (length > MAX_SERIAL_FRAME_SIZE) throw tooLarge();
  const received = body[length - 2]! | (body[length - 1]! << 8);
  const computed = crc16CcittFalse(body, 0, length - 2);
  if (received !== computed) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_CHECKSUM,
      `serial frame CRC-16 is 0x${hex4(received)} but its ${length - 2} bytes give 0x${hex4(computed)}`,
      { received, computed },
    );
  }
  const version = body[0]!;
  switch (version) {
    case SERIAL_FRAME_VERSION_1:
      return decodeFrameV1(body, view, length - 2);
    default:
      throw new ProtocolError(
        ProtocolErrorCode.UNKNOWN_VERSION,
        `serial frame version ${version} is not supported (this code decodes version ${SERIAL_FRAME_VERSION_1})`,
        { version },
      );
  }
}

/** TOO_LARGE for a frame past MAX_SERIAL_FRAME_SIZE; `what` says what happens to its bytes. */
export function tooLarge(what = 'rejected'): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.TOO_LARGE,
    `serial frame exceeds ${MAX_SERIAL_FRAME_SIZE} decoded bytes: ${what}`,
    { limit: MAX_SERIAL_FRAME_SIZE },
  );
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
