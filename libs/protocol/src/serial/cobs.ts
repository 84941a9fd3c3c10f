import { ProtocolError, ProtocolErrorCode } from '../errors.js';

/**
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 7(2), 1999).
 *
 * COBS rewrites a block of bytes so that it contains no 0x00; the serial link then uses 0x00 as the
 * frame delimiter, and a receiver that lost sync (noise, a reset mid-frame) resynchronises at the
 * next 0x00 without knowing anything about the frame.
 *
 * Encoding: the input is cut after every 0x00 and after every run of 254 non-zero bytes. Each piece
 * becomes one block: a code byte c (1..255) followed by c - 1 non-zero data bytes.
 *   - c < 0xFF: the data bytes are followed, in the decoded output, by one 0x00, except after the
 *     last block of the frame (that 0x00 is the delimiter's).
 *   - c = 0xFF: 254 data bytes and no implied 0x00.
 * So n input bytes take at most n + ceil(n / 254) encoded bytes (1 for n = 0), never more.
 *
 *   input 11 22 00 33          -> 03 11 22 02 33
 *   input 00                   -> 01 01
 *   input 254 x non-zero       -> FF <254 bytes>          (no trailing 01: the form of cobs-c and
 *                                                          most firmware; the decoder also accepts
 *                                                          the longer FF <254> 01)
 */

/** Largest COBS encoding of `n` bytes. */
export function cobsMaxEncodedLength(n: number): number {
  return n + Math.max(1, Math.ceil(n / 254));
}

/**
 * COBS-encodes `src` into `dst` at `offset` and returns the number of bytes written (no delimiter).
 * `dst` needs `cobsMaxEncodedLength(src.length)` bytes from `offset`.
 */
export function cobsEncode(src: Uint8Array, dst: Uint8Array, offset = 0): number {
  let codeAt = offset;
  let out = offset + 1;
  let code = 1;
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const b = src[i]!;
    if (b === 0) {
      dst[codeAt] = code;
      codeAt = out++;
      code = 1;
    } else {
      dst[out++] = b;
      code++;
      // A full block is closed at once unless it ends the input: then the final code below closes
      // it, which is what saves the trailing 01.
      if (code === 0xff && i + 1 < n) {
        dst[codeAt] = code;
        codeAt = out++;
        code = 1;
      }
    }
  }
  dst[codeAt] = code;
  return out - offset;
}

/**
 * Incremental COBS decoder for one frame at a time: the bytes of a frame may arrive in any number of
 * `write` calls (a serial port delivers arbitrary splits) and `finish` is called at the delimiter.
 *
 * It decodes as bytes arrive, so it holds only decoded bytes, at most `capacity` of them: a frame
 * whose decoded size would exceed the capacity is refused (`write` returns false) instead of
 * buffered. State between calls: the data bytes still owed by the current block, and whether the
 * previous block implies a 0x00 (emitted only once a next block proves the frame did not end).
 */
export class CobsDecoder {
  /** Decoded bytes of the current frame live in `buffer[0, length)`; reused for every frame. */
  readonly buffer: Uint8Array;
  private len = 0;
  /** Data bytes still to come in the current block; 0 means the next byte is a code byte. */
  private blockLeft = 0;
  /** Code byte of the previous block, 0 before the first block of a frame. */
  private prevCode = 0;

  constructor(capacity: number) {
    this.buffer = new Uint8Array(capacity);
  }

  get length(): number {
    return this.len;
  }

  /**
   * Feeds `src[start, end)`, which must not contain 0x00 (the caller splits at delimiters).
   * Returns false, and forgets the frame, when the decoded frame would exceed the capacity.
   */
  write(src: Uint8Array, start: number, end: number): boolean {
    const out = this.buffer;
    const cap = out.length;
    let len = this.len;
    let left = this.blockLeft;
    let prev = this.prevCode;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      if (left === 0) {
        if (prev !== 0 && prev !== 0xff) {
          if (len === cap) return this.refuse();
          out[len++] = 0;
        }
        prev = b;
        left = b - 1;
      } else {
        if (len === cap) return this.refuse();
        out[len++] = b;
        left--;
      }
    }
    this.len = len;
    this.blockLeft = left;
    this.prevCode = prev;
    return true;
  }

  /**
   * Ends the frame at its delimiter and returns its decoded length (the bytes are in `buffer` until
   * the next write). Throws BAD_FRAME when the last code byte announced more bytes than arrived.
   * Either way the decoder is ready for the next frame.
   */
  finish(): number {
    const len = this.len;
    const missing = this.blockLeft;
    this.reset();
    if (missing !== 0) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_FRAME,
        `COBS frame truncated: its last code byte announces ${missing} more byte(s) before the delimiter`,
        { missing },
      );
    }
    return len;
  }

  /** Forgets the frame in progress. */
  reset(): void {
    this.len = 0;
    this.blockLeft = 0;
    this.prevCode = 0;
  }

  private refuse(): false {
    this.reset();
    return false;
  }
}

/**
 * Decodes one COBS-encoded frame (delimiter excluded) into a new array.
 * Throws BAD_FRAME on a 0x00 inside the frame or a truncated last block.
 */
export function cobsDecode(src: Uint8Array): Uint8Array {
  const zero = src.indexOf(0);
  if (zero !== -1) {
    throw new ProtocolError(ProtocolErrorCode.BAD_FRAME, `COBS frame contains 0x00 at offset ${zero}`, {
      offset: zero,
    });
  }
  // Each code byte is replaced by at most one 0x00, and the last one by none: the decoded frame is
  // shorter than its encoding.
  const decoder = new CobsDecoder(src.length);
  decoder.write(src, 0, src.length);
  return decoder.buffer.slice(0, decoder.finish());
}
