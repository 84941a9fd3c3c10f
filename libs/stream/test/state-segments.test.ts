/** State segments (keyed state as a log of binary rows): the codec and the merge, no I/O. */
import type { StateChange } from '@fleet/state';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeSegments, StateMerge } from '../src/runtime/state-segments.js';

const change = fc.record({
  name: fc.constantFrom('battery_1m', 'cep', 'm'),
  key: fc.string({ maxLength: 12, unit: 'grapheme' }),
  userKey: fc.oneof(fc.constant(''), fc.string({ maxLength: 6 })),
  value: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 40 })),
  writtenAt: fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.constant(Number.MIN_SAFE_INTEGER)),
});

const decodeAll = (segments: readonly Uint8Array[]): StateChange[] => {
  const out: StateChange[] = [];
  for (const s of segments) decodeSegment(s, (c) => out.push(c));
  return out;
};

describe('state segments', () => {
  it('round-trip every change in order, whatever the chunk size', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 60 }), fc.integer({ min: 1, max: 400 }), (changes, max) => {
        const segments = encodeSegments(changes, max);
        expect(decodeAll(segments)).toEqual(changes.map((c) => ({ ...c })));
        // A chunk is over the limit only when it holds a single entry that is.
        for (const s of segments) {
          let n = 0;
          decodeSegment(s, () => n++);
          if (s.byteLength > max) expect(n).toBe(1);
        }
      }),
    );
  });

  it('merge to the last write of each entry, deletes removing it, like a map replayed in order', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 80 }), fc.integer({ min: 20, max: 300 }), (changes, max) => {
        const merge = new StateMerge();
        for (const s of encodeSegments(changes, max)) merge.applySegment(s);
        const model = new Map<string, StateChange>();
        for (const c of changes) {
          const id = JSON.stringify([c.name, c.key, c.userKey]);
          if (c.value === null) model.delete(id);
          else model.set(id, c);
        }
        const sort = (xs: StateChange[]) =>
          xs.sort((a, b) =>
            JSON.stringify([a.name, a.key, a.userKey]).localeCompare(
              JSON.stringify([b.name, b.key, b.userKey]),
            ),
          );
        expect(sort(merge.entries())).toEqual(sort([...model.values()]));
      }),
    );
  });

  it('encodes nothing for no changes, and an empty value as a put', () => {
    expect(encodeSegments([], 1024)).toEqual([]);
    const put: StateChange = { name: 'v', key: 'r-1', userKey: '', value: new Uint8Array(0), writtenAt: 5 };
    expect(decodeAll(encodeSegments([put], 1024))).toEqual([put]);
  });

  it('refuses an unknown version, a truncated segment and trailing bytes with a clear error', () => {
    const [segment] = encodeSegments(
      [{ name: 'v', key: 'r-1', userKey: '', value: new Uint8Array([1, 2, 3]), writtenAt: 1 }],
      1024,
    ) as [Buffer];
    expect(() =>
      decodeSegment(Buffer.concat([Buffer.from([9]), segment.subarray(1)]), () => undefined),
    ).toThrow(/unknown version 9/);
    expect(() => decodeSegment(segment.subarray(0, segment.length - 2), () => undefined)).toThrow(
      /truncated/,
    );
    expect(() => decodeSegment(Buffer.concat([segment, Buffer.from([0])]), () => undefined)).toThrow(
      /1 bytes after the last entry/,
    );
  });
});
