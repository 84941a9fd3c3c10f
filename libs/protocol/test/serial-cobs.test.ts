import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isProtocolError, ProtocolErrorCode } from '../src/errors.js';
import { CobsDecoder } from '../src/serial/cobs.js';
import { cobsDecode, cobsEncode, cobsMaxEncodedLength } from '../src/serial/index.js';

function encode(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(cobsMaxEncodedLength(src.length));
  return dst.subarray(0, cobsEncode(src, dst));
}

const hex = (s: string) => Uint8Array.from(s.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const range = (from: number, to: number) =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => (from + i) & 0xff);
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('COBS', () => {
  // The examples of Cheshire & Baker as listed on Wikipedia's COBS page, delimiter left off.
  const vectors: [string, Uint8Array, Uint8Array][] = [
    ['one zero', hex('00'), hex('01 01')],
    ['two zeros', hex('00 00'), hex('01 01 01')],
    ['zero inside', hex('00 11 00'), hex('01 02 11 01')],
    ['11 22 00 33', hex('11 22 00 33'), hex('03 11 22 02 33')],
    ['no zero', hex('11 22 33 44'), hex('05 11 22 33 44')],
    ['trailing zeros', hex('11 00 00 00'), hex('02 11 01 01 01')],
    ['254 non-zero bytes', range(0x01, 0xfe), concat(hex('ff'), range(0x01, 0xfe))],
    ['00 then 254 non-zero', range(0x00, 0xfe), concat(hex('01 ff'), range(0x01, 0xfe))],
    ['255 non-zero bytes', range(0x01, 0xff), concat(hex('ff'), range(0x01, 0xfe), hex('02 ff'))],
    [
      '254 non-zero then 00',
      concat(range(0x02, 0xff), hex('00')),
      concat(hex('ff'), range(0x02, 0xff), hex('01 01')),
    ],
    [
      '253 non-zero then 00 01',
      concat(range(0x03, 0xff), hex('00 01')),
      concat(hex('fe'), range(0x03, 0xff), hex('02 01')),
    ],
  ];

  it.each(vectors)('encodes and decodes the reference vector: %s', (_, decoded, encoded) => {
    expect(encode(decoded)).toEqual(encoded);
    expect(cobsDecode(encoded)).toEqual(decoded);
  });

  it('round-trips any bytes, never emits 00 and stays within the stated overhead', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (data) => {
        const encoded = encode(data);
        expect(encoded.includes(0)).toBe(false);
        expect(encoded.length).toBeLessThanOrEqual(cobsMaxEncodedLength(data.length));
        expect(encoded.length).toBeGreaterThan(data.length);
        expect(cobsDecode(encoded)).toEqual(data);
      }),
    );
  });

  it('decodes the same bytes whatever the encoding is cut into', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.array(fc.nat(), { maxLength: 10 }), (data, cuts) => {
        const encoded = encode(data);
        const points = [...new Set(cuts.map((c) => c % (encoded.length + 1)))].sort((a, b) => a - b);
        const decoder = new CobsDecoder(1024);
        let from = 0;
        for (const to of [...points, encoded.length]) {
          expect(decoder.write(encoded, from, to)).toBe(true);
          from = to;
        }
        const n = decoder.finish();
        expect(decoder.buffer.slice(0, n)).toEqual(data);
      }),
    );
  });

  it('also accepts the longer form that closes a final 254-byte block with 01', () => {
    expect(cobsDecode(concat(hex('ff'), range(0x01, 0xfe), hex('01')))).toEqual(range(0x01, 0xfe));
  });

  it('rejects a code byte that announces more bytes than the frame has (BAD_FRAME)', () => {
    expect(() => cobsDecode(hex('05 11 22'))).toThrow(/truncated: its last code byte announces 2 more byte/);
    try {
      cobsDecode(hex('05 11 22'));
    } catch (e) {
      expect(isProtocolError(e, ProtocolErrorCode.BAD_FRAME)).toBe(true);
    }
  });

  it('rejects a 00 inside a frame (BAD_FRAME)', () => {
    expect(() => cobsDecode(hex('03 11 00 22'))).toThrow(/contains 0x00 at offset 2/);
  });

  it('refuses, rather than buffers, a frame that decodes past its capacity', () => {
    const decoder = new CobsDecoder(4);
    expect(decoder.write(hex('05 11 22 33 44'), 0, 5)).toBe(true);
    expect(decoder.finish()).toBe(4);
    expect(decoder.write(hex('06 11 22 33 44 55'), 0, 6)).toBe(false);
    expect(decoder.length).toBe(0);
    // The implied zero counts too: 4 data bytes, then the 00 a following block proves.
    expect(decoder.write(hex('05 11 22 33 44 01'), 0, 6)).toBe(false);
  });
});
