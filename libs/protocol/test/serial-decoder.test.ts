import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ProtocolErrorCode } from '../src/errors.js';
import {
  encodeSerialFrame,
  MAX_SERIAL_FRAME_SIZE,
  SerialFrameDecoder,
  type SerialDecodeResult,
  type SerialFrame,
} from '../src/serial/index.js';
import { anyFrame } from './fixtures/serial/arbitraries.js';
import { bodyOf, concatBytes, patch, wire } from './fixtures/serial/craft.js';

const DELIMITER = Uint8Array.of(0);

/** Encodes frames one after another; `lead[i]` says whether frame i gets a leading 00. */
function stream(
  frames: readonly SerialFrame[],
  lead: (i: number) => boolean = (i) => i % 2 === 0,
): Uint8Array {
  return concatBytes(frames.map((f, i) => encodeSerialFrame(f, { leadingDelimiter: lead(i) })));
}

function feed(decoder: SerialFrameDecoder, chunks: readonly Uint8Array[]): SerialDecodeResult[] {
  return chunks.flatMap((c) => decoder.push(c));
}

const framesOf = (results: readonly SerialDecodeResult[]) => results.flatMap((r) => (r.ok ? [r.frame] : []));
const outline = (results: readonly SerialDecodeResult[]) =>
  results.map((r) => (r.ok ? r.frame.type : r.error.code));

/** Cuts `bytes` at the given points (any order, duplicates allowed). */
function cut(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const sorted = [...points.map((p) => p % (bytes.length + 1))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const to of [...sorted, bytes.length]) {
    chunks.push(bytes.subarray(from, to));
    from = to;
  }
  return chunks;
}

/** The non-empty runs between 00 bytes of `bytes` (an unterminated last run included). */
function runsOf(bytes: Uint8Array): number {
  let runs = 0;
  let inRun = false;
  for (const b of bytes) {
    if (b !== 0 && !inRun) runs++;
    inRun = b !== 0;
  }
  return runs;
}

// A fixed stream of every frame type, both delimiter styles: 40 frames, a few KiB.
const FIXED_FRAMES = fc.sample(anyFrame, { numRuns: 40, seed: 20_240_601 });
const FIXED_STREAM = stream(FIXED_FRAMES);

describe('SerialFrameDecoder: any split of the bytes gives the same frames', () => {
  it(`cut once at every byte boundary of a ${FIXED_STREAM.length}-byte stream of ${FIXED_FRAMES.length} frames`, () => {
    const mismatches: number[] = [];
    for (let i = 0; i <= FIXED_STREAM.length; i++) {
      const decoder = new SerialFrameDecoder();
      const results = feed(decoder, [FIXED_STREAM.subarray(0, i), FIXED_STREAM.subarray(i)]);
      if (!isDeepStrictEqual(framesOf(results), FIXED_FRAMES) || results.length !== FIXED_FRAMES.length) {
        mismatches.push(i);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('cut once at every byte boundary, for any list of frames', () => {
    fc.assert(
      fc.property(
        fc.array(anyFrame, { minLength: 1, maxLength: 6 }),
        fc.func(fc.boolean()),
        (frames, lead) => {
          const bytes = stream(frames, lead);
          for (let i = 0; i <= bytes.length; i++) {
            const results = feed(new SerialFrameDecoder(), [bytes.subarray(0, i), bytes.subarray(i)]);
            expect(results).toStrictEqual(frames.map((frame) => ({ ok: true, frame })));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('cut into random chunks, including empty ones', () => {
    fc.assert(
      fc.property(
        fc.array(anyFrame, { minLength: 1, maxLength: 20 }),
        fc.func(fc.boolean()),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, lead, points) => {
          const results = feed(new SerialFrameDecoder(), cut(stream(frames, lead), points));
          expect(results).toStrictEqual(frames.map((frame) => ({ ok: true, frame })));
        },
      ),
    );
  });

  it('fed one byte at a time', () => {
    const decoder = new SerialFrameDecoder();
    const results = feed(
      decoder,
      Array.from(FIXED_STREAM, (b) => Uint8Array.of(b)),
    );
    expect(framesOf(results)).toStrictEqual(FIXED_FRAMES);
    expect(decoder.stats).toMatchObject({
      framesOk: FIXED_FRAMES.length,
      framesCorrupt: 0,
      bytesDiscarded: 0,
    });
  });

  it('keeps a frame whose delimiter arrives in the next chunk, and reports nothing until it does', () => {
    const bytes = encodeSerialFrame(FIXED_FRAMES[0]!);
    const decoder = new SerialFrameDecoder();
    expect(decoder.push(bytes.subarray(0, -1))).toEqual([]);
    expect(decoder.bufferedRunBytes).toBe(bytes.length - 1);
    expect(decoder.push(DELIMITER)).toStrictEqual([{ ok: true, frame: FIXED_FRAMES[0] }]);
    expect(decoder.bufferedRunBytes).toBe(0);
  });
});

describe('SerialFrameDecoder: corruption costs only the corrupt run', () => {
  it('recovers every frame from between random garbage (00 bytes included) and counts each garbage run', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 40 }), anyFrame), { minLength: 1, maxLength: 15 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (pieces, tail, points) => {
          const bytes = concatBytes([
            ...pieces.flatMap(([garbage, frame]) => [
              garbage,
              encodeSerialFrame(frame, { leadingDelimiter: true }),
            ]),
            tail,
            DELIMITER,
          ]);
          const decoder = new SerialFrameDecoder();
          const results = feed(decoder, cut(bytes, points));

          const expected = [
            ...pieces.flatMap(([garbage, frame]) => [
              ...Array<string>(runsOf(garbage)).fill('error'),
              frame.type,
            ]),
            ...Array<string>(runsOf(tail)).fill('error'),
          ];
          expect(results.map((r) => (r.ok ? r.frame.type : 'error'))).toEqual(expected);
          expect(framesOf(results)).toStrictEqual(pieces.map(([, frame]) => frame));

          const stats = decoder.stats;
          const garbageBytes = [...pieces.map(([g]) => g), tail].reduce(
            (n, g) => n + g.filter((b) => b !== 0).length,
            0,
          );
          expect(stats.framesOk).toBe(pieces.length);
          expect(stats.framesCorrupt).toBe(expected.length - pieces.length);
          expect(Object.values(stats.corruptByCode).reduce((a, b) => a + b, 0)).toBe(stats.framesCorrupt);
          expect(stats.bytesDiscarded).toBe(garbageBytes);
          expect(stats.bytesIn).toBe(bytes.length);
        },
      ),
    );
  });

  it('loses a frame to noise that runs into it when the frame has no leading 00 (why firmware should send one)', () => {
    const [a, b] = [FIXED_FRAMES[0]!, FIXED_FRAMES[1]!];
    const noise = Uint8Array.of(0x13, 0x37);
    const without = feed(new SerialFrameDecoder(), [encodeSerialFrame(a), noise, encodeSerialFrame(b)]);
    expect(outline(without)).toEqual([a.type, expect.stringMatching(/^PROTOCOL_/)]);
    const withLead = feed(new SerialFrameDecoder(), [
      encodeSerialFrame(a),
      noise,
      encodeSerialFrame(b, { leadingDelimiter: true }),
    ]);
    expect(framesOf(withLead)).toStrictEqual([a, b]);
  });

  it('detects every single-bit flip in an encoded frame: an error, never a different frame', () => {
    const decoder = new SerialFrameDecoder();
    fc.assert(
      fc.property(anyFrame, (frame) => {
        const bytes = encodeSerialFrame(frame);
        const undetected: { bit: number; results: string[] }[] = [];
        for (let bit = 0; bit < (bytes.length - 1) * 8; bit++) {
          const flipped = bytes.slice();
          flipped[bit >> 3]! ^= 1 << (bit & 7);
          const results = feed(decoder, [flipped, DELIMITER]);
          // A flip to 00 splits the frame into two runs: each must fail on its own.
          if (results.length === 0 || results.some((r) => r.ok))
            undetected.push({ bit, results: outline(results) });
        }
        expect(undetected).toEqual([]);
      }),
      { numRuns: 200 },
    );
    expect(decoder.stats.framesOk).toBe(0);
  });

  it('keeps both neighbours of a frame whatever single bit of it, delimiters included, is flipped', () => {
    fc.assert(
      fc.property(anyFrame, anyFrame, anyFrame, (before, frame, after) => {
        const head = encodeSerialFrame(before, { leadingDelimiter: true });
        const middle = encodeSerialFrame(frame, { leadingDelimiter: true });
        const tail = encodeSerialFrame(after, { leadingDelimiter: true });
        for (let bit = 0; bit < middle.length * 8; bit++) {
          const flipped = middle.slice();
          flipped[bit >> 3]! ^= 1 << (bit & 7);
          const results = feed(new SerialFrameDecoder(), [head, flipped, tail]);
          const frames = framesOf(results);
          expect(frames[0]).toStrictEqual(before);
          expect(frames.at(-1)).toStrictEqual(after);
          expect(frames.length).toBe(2);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('reports a frame cut off by the next frame’s leading 00 and decodes that next frame', () => {
    const [a, b] = [FIXED_FRAMES[2]!, FIXED_FRAMES[3]!];
    const cutA = encodeSerialFrame(a, { leadingDelimiter: true });
    for (let keep = 2; keep < cutA.length - 1; keep++) {
      const results = feed(new SerialFrameDecoder(), [
        cutA.subarray(0, keep),
        encodeSerialFrame(b, { leadingDelimiter: true }),
      ]);
      expect(results.length).toBe(2);
      expect(results[0]!.ok).toBe(false);
      expect(results[1]).toStrictEqual({ ok: true, frame: b });
    }
  });

  it('skips a frame of a type it does not know, as firmware older than 0x05 resume does, and goes on', () => {
    const command = {
      type: 'command',
      commandId: 'c-1',
      action: { type: 'stop' },
      deadlineRobotTime: 5,
    } as const satisfies SerialFrame;
    // What firmware that predates a type sees: a well-formed v1 body with a type code it lacks.
    const resume = bodyOf({ type: 'resume', position: { bootId: 1, nextSeq: 2 } });
    const future = wire(patch(resume, 1, 1, 0x7e));
    const results = feed(new SerialFrameDecoder(), [
      concatBytes([DELIMITER, future, encodeSerialFrame(command, { leadingDelimiter: true })]),
    ]);
    expect(outline(results)).toEqual([ProtocolErrorCode.UNKNOWN_TYPE, 'command']);
    expect(framesOf(results)).toStrictEqual([command]);
  });
});

describe('SerialFrameDecoder: oversized runs and bounded memory', () => {
  it('discards a run without delimiter past 512 decoded bytes, once, holding no more than 512 bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 600, maxLength: 5000 }).map((a) => a.map((b) => b || 1)),
        fc.array(fc.nat(), { maxLength: 30 }),
        (noise, points) => {
          const decoder = new SerialFrameDecoder();
          const results: SerialDecodeResult[] = [];
          for (const chunk of cut(noise, points)) {
            results.push(...decoder.push(chunk));
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(MAX_SERIAL_FRAME_SIZE);
          }
          expect(outline(results)).toEqual([ProtocolErrorCode.TOO_LARGE]);
          const good = FIXED_FRAMES[4]!;
          expect(decoder.push(encodeSerialFrame(good, { leadingDelimiter: true }))).toStrictEqual([
            { ok: true, frame: good },
          ]);
          expect(decoder.stats).toMatchObject({
            framesOk: 1,
            framesCorrupt: 1,
            bytesDiscarded: noise.length,
            corruptByCode: expect.objectContaining({ [ProtocolErrorCode.TOO_LARGE]: 1 }),
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('reports TOO_LARGE on the byte that would make the 513th decoded byte, naming the limit', () => {
    // Each 01 is an empty COBS block: the first decodes to nothing, every later one adds a 00.
    const decoder = new SerialFrameDecoder();
    expect(decoder.push(new Uint8Array(MAX_SERIAL_FRAME_SIZE + 1).fill(0x01))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(MAX_SERIAL_FRAME_SIZE);
    const results = decoder.push(Uint8Array.of(0x01));
    expect(results).toMatchObject([
      {
        ok: false,
        error: {
          code: ProtocolErrorCode.TOO_LARGE,
          message: 'serial frame exceeds 512 decoded bytes: discarding up to the next 00 delimiter',
        },
      },
    ]);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.push(new Uint8Array(100).fill(0x01))).toEqual([]);
    expect(decoder.stats.bytesDiscarded).toBe(MAX_SERIAL_FRAME_SIZE + 2 + 100);
  });

  it('takes a 512-byte body as a frame (not too large) and a 513-byte one as too large', () => {
    const at512 = concatBytes([Uint8Array.of(1, 0x7f), new Uint8Array(MAX_SERIAL_FRAME_SIZE - 4).fill(0x55)]);
    const results = feed(new SerialFrameDecoder(), [
      wire(at512),
      wire(concatBytes([at512, Uint8Array.of(0x55)])),
    ]);
    expect(outline(results)).toEqual([ProtocolErrorCode.UNKNOWN_TYPE, ProtocolErrorCode.TOO_LARGE]);
  });

  it('reset() drops a partial frame, counting its bytes but reporting no error', () => {
    const decoder = new SerialFrameDecoder();
    const bytes = encodeSerialFrame(FIXED_FRAMES[5]!);
    decoder.push(bytes.subarray(0, 10));
    decoder.reset();
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.push(bytes)).toStrictEqual([{ ok: true, frame: FIXED_FRAMES[5] }]);
    expect(decoder.stats).toMatchObject({ framesOk: 1, framesCorrupt: 0, bytesDiscarded: 10 });
  });
});

describe('SerialFrameDecoder: counters', () => {
  it('counts each corrupt run under its error code, between good frames', () => {
    const sample = FIXED_FRAMES.find((f) => f.type === 'sample')!;
    const body = bodyOf(sample);
    const good = encodeSerialFrame(sample, { leadingDelimiter: true });
    const bad = [
      Uint8Array.of(0x05, 0x01, 0x01, 0x00), // BAD_FRAME: truncated COBS
      wire(body, { crc: 0 }), // BAD_CHECKSUM (unless the CRC happens to be 0)
      wire(patch(body, 0, 1, 9)), // UNKNOWN_VERSION
      wire(patch(body, 1, 1, 0x42)), // UNKNOWN_TYPE
      concatBytes([new Uint8Array(700).fill(0x02), DELIMITER]), // TOO_LARGE
      wire(patch(body, 41, 1, 200)), // INVALID_MESSAGE: mode
    ];
    const decoder = new SerialFrameDecoder();
    const results = feed(decoder, [good, ...bad.flatMap((b) => [b, good])]);
    expect(outline(results)).toEqual([
      'sample',
      ...[
        ProtocolErrorCode.BAD_FRAME,
        ProtocolErrorCode.BAD_CHECKSUM,
        ProtocolErrorCode.UNKNOWN_VERSION,
        ProtocolErrorCode.UNKNOWN_TYPE,
        ProtocolErrorCode.TOO_LARGE,
        ProtocolErrorCode.INVALID_MESSAGE,
      ].flatMap((code) => [code, 'sample']),
    ]);
    const stats = decoder.stats;
    expect(stats.corruptByCode).toEqual({
      [ProtocolErrorCode.BAD_FRAME]: 1,
      [ProtocolErrorCode.BAD_CHECKSUM]: 1,
      [ProtocolErrorCode.UNKNOWN_VERSION]: 1,
      [ProtocolErrorCode.UNKNOWN_TYPE]: 1,
      [ProtocolErrorCode.TOO_LARGE]: 1,
      [ProtocolErrorCode.INVALID_MESSAGE]: 1,
    });
    expect(stats.framesOk).toBe(7);
    expect(stats.framesCorrupt).toBe(6);
    expect(stats.bytesDiscarded).toBe(bad.reduce((n, b) => n + b.length - 1, 0));
  });

  it('hands out a snapshot of the counters', () => {
    const decoder = new SerialFrameDecoder();
    const before = decoder.stats;
    decoder.push(Uint8Array.of(0x07, 0x00));
    expect(before).toMatchObject({ bytesIn: 0, framesCorrupt: 0 });
    expect(decoder.stats).toMatchObject({ bytesIn: 2, framesCorrupt: 1, bytesDiscarded: 1 });
  });

  it('ignores empty runs: 00 00 between frames is not an error', () => {
    const decoder = new SerialFrameDecoder();
    expect(decoder.push(new Uint8Array(10))).toEqual([]);
    expect(decoder.stats).toMatchObject({ bytesIn: 10, framesOk: 0, framesCorrupt: 0, bytesDiscarded: 0 });
  });
});
