import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16CcittFalse } from '../src/serial/index.js';

/** The definition, one bit at a time: what the table-driven version must agree with. */
function crc16Bitwise(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

const bytes = (max = 600) => fc.uint8Array({ maxLength: max });

describe('crc16CcittFalse', () => {
  it('gives the catalogue check value 0x29B1 for ASCII "123456789"', () => {
    expect(crc16CcittFalse(new TextEncoder().encode('123456789'))).toBe(0x29b1);
  });

  it('is the init value 0xFFFF for no bytes (no xorout)', () => {
    expect(crc16CcittFalse(new Uint8Array(0))).toBe(0xffff);
  });

  it('agrees with the bit-by-bit definition for any bytes', () => {
    fc.assert(fc.property(bytes(), (data) => crc16CcittFalse(data) === crc16Bitwise(data)));
  });

  it('checksums exactly the window [start, end)', () => {
    fc.assert(
      fc.property(bytes(), fc.nat(), fc.nat(), (data, a, b) => {
        const start = a % (data.length + 1);
        const end = start + (b % (data.length - start + 1));
        return crc16CcittFalse(data, start, end) === crc16Bitwise(data.subarray(start, end));
      }),
    );
  });

  it('detects every burst error of up to 16 bits in a frame-sized block', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 3, maxLength: 512 }),
        fc.nat(),
        fc.integer({ min: 1, max: 0xffff }),
        (data, at, pattern) => {
          // A burst: a 16-bit window whose first bit is set, xor-ed in at any bit offset.
          const burst = pattern | 0x8000;
          const bitOffset = at % (data.length * 8 - 16);
          const corrupted = data.slice();
          for (let i = 0; i < 16; i++) {
            if ((burst >> (15 - i)) & 1) {
              const bit = bitOffset + i;
              corrupted[bit >> 3]! ^= 0x80 >> (bit & 7);
            }
          }
          return crc16CcittFalse(corrupted) !== crc16CcittFalse(data);
        },
      ),
    );
  });
});
