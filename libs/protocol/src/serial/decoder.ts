/**
 * Streaming decoder for the serial link: bytes in as the port delivers them, frames out in order.
 *
 * Invariants:
 * - Any split of the same bytes yields the same results: a frame cut anywhere, even between its
 *   last byte and its delimiter, is completed by the next push.
 * - A run is the bytes between two 00 delimiters. Each non-empty run yields exactly one result, a
 *   frame or an error; empty runs (00 00, the optional leading delimiter) yield nothing. So a corrupt
 *   frame costs only its own run and the decoder is back in sync at the next 00.
 * - Memory is bounded: COBS is undone as bytes arrive and only decoded bytes are kept, at most
 *   MAX_SERIAL_FRAME_SIZE. A run that would decode to more is reported once as TOO_LARGE at the
 *   moment it overflows, and its remaining bytes are dropped up to the next 00.
 * - Counters: every byte pushed is a delimiter, part of a decoded frame, part of a discarded run
 *   (`bytesDiscarded`), or part of the run still in progress (`bufferedRunBytes`).
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { viewOf } from './bytes.js';
import { CobsDecoder } from './cobs.js';
import {
  decodeSerialFrameBody,
  MAX_SERIAL_FRAME_SIZE,
  SERIAL_FRAME_DELIMITER,
  tooLarge,
  type SerialFrame,
} from './frame.js';

/** One result per non-empty run on the wire, in wire order. */
export type SerialDecodeResult =
  { readonly ok: true; readonly frame: SerialFrame } | { readonly ok: false; readonly error: ProtocolError };

/** The codes a serial decoder reports. */
export type SerialErrorCode = Exclude<ProtocolErrorCode, typeof ProtocolErrorCode.BAD_TOPIC>;

export interface SerialDecoderStats {
  /** Bytes pushed, delimiters included. */
  readonly bytesIn: number;
  readonly framesOk: number;
  /** Runs that failed to decode, in total and by error code. */
  readonly framesCorrupt: number;
  readonly corruptByCode: Readonly<Record<SerialErrorCode, number>>;
  /** Bytes of failed runs, delimiters excluded. */
  readonly bytesDiscarded: number;
}

/**
 * @example
 * const decoder = new SerialFrameDecoder();
 * port.on('data', (chunk: Buffer) => {
 *   for (const result of decoder.push(chunk)) {
 *     if (result.ok) handle(result.frame);
 *     else metrics.serialErrors.inc({ code: result.error.code });
 *   }
 * });
 */
export class SerialFrameDecoder {
  private readonly cobs = new CobsDecoder(MAX_SERIAL_FRAME_SIZE);
  private readonly view = viewOf(this.cobs.buffer);
  /** Encoded bytes of the run in progress. */
  private runBytes = 0;
  /** The run in progress already overflowed; drop it up to the next 00. */
  private discarding = false;
  private bytesIn = 0;
  private framesOk = 0;
  private framesCorrupt = 0;
  private bytesDiscarded = 0;
  private readonly corruptByCode: Record<SerialErrorCode, number> = {
    [ProtocolErrorCode.BAD_FRAME]: 0,
    [ProtocolErrorCode.BAD_CHECKSUM]: 0,
    [ProtocolErrorCode.UNKNOWN_TYPE]: 0,
    [ProtocolErrorCode.UNKNOWN_VERSION]: 0,
    [ProtocolErrorCode.TOO_LARGE]: 0,
    [ProtocolErrorCode.INVALID_MESSAGE]: 0,
  };

  /**
   * Feeds bytes exactly as the port delivered them and returns the results of every run the chunk
   * completes (or overflows), in order. Never throws for bad input.
   */
  push(chunk: Uint8Array): SerialDecodeResult[] {
    const results: SerialDecodeResult[] = [];
    const n = chunk.length;
    this.bytesIn += n;
    let i = 0;
    while (i < n) {
      const delimiter = chunk.indexOf(SERIAL_FRAME_DELIMITER, i);
      const end = delimiter === -1 ? n : delimiter;
      if (end > i) this.feed(chunk, i, end, results);
      if (delimiter === -1) break;
      this.endRun(results);
      i = delimiter + 1;
    }
    return results;
  }

  /**
   * Drops the run in progress (e.g. when the port is reopened), counting its bytes as discarded but
   * reporting no error: the frame was not corrupt, only cut off.
   */
  reset(): void {
    this.bytesDiscarded += this.runBytes;
    this.runBytes = 0;
    this.discarding = false;
    this.cobs.reset();
  }

  /** Encoded bytes of the run in progress that the decoder holds (as at most 512 decoded bytes). */
  get bufferedRunBytes(): number {
    return this.runBytes;
  }

  /** Decoded bytes held for the run in progress; never more than MAX_SERIAL_FRAME_SIZE. */
  get bufferedBytes(): number {
    return this.cobs.length;
  }

  get stats(): SerialDecoderStats {
    return {
      bytesIn: this.bytesIn,
      framesOk: this.framesOk,
      framesCorrupt: this.framesCorrupt,
      corruptByCode: { ...this.corruptByCode },
      bytesDiscarded: this.bytesDiscarded,
    };
  }

  private feed(chunk: Uint8Array, start: number, end: number, results: SerialDecodeResult[]): void {
    const len = end - start;
    if (this.discarding) {
      this.bytesDiscarded += len;
    } else if (this.cobs.write(chunk, start, end)) {
      this.runBytes += len;
    } else {
      this.bytesDiscarded += this.runBytes + len;
      this.runBytes = 0;
      this.discarding = true;
      results.push(this.fail(tooLarge('discarding up to the next 00 delimiter')));
    }
  }

  private endRun(results: SerialDecodeResult[]): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    const runBytes = this.runBytes;
    if (runBytes === 0) return;
    this.runBytes = 0;
    try {
      const frame = decodeSerialFrameBody(this.cobs.buffer, this.cobs.finish(), this.view);
      this.framesOk++;
      results.push({ ok: true, frame });
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.bytesDiscarded += runBytes;
      results.push(this.fail(e));
    }
  }

  private fail(error: ProtocolError): SerialDecodeResult {
    this.framesCorrupt++;
    const code = error.code as SerialErrorCode;
    this.corruptByCode[code] = (this.corruptByCode[code] ?? 0) + 1;
    return { ok: false, error };
  }
}
