// Unit: the file log's frame and head codecs (pure; no files).
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  decodeHead,
  encodeFrame,
  encodeHead,
  frameSize,
  type FrameInput,
} from '../src/file/format.js';

const input: FrameInput = {
  key: Buffer.from('robot-7'),
  value: Buffer.from([1, 2, 3, 4, 5]),
  headers: [
    [Buffer.from('schema-version'), Buffer.from('1')],
    [Buffer.from('é'), Buffer.alloc(0)],
  ],
  timestamp: 1_700_000_000_123,
};

function encode(record: FrameInput, offset: bigint): Buffer {
  const out = Buffer.alloc(frameSize(record));
  expect(encodeFrame(record, offset, out, 0)).toBe(out.length);
  return out;
}

describe('file log frame codec', () => {
  it('round-trips a record, its offset, null key and tombstone', () => {
    const decoded = decodeFrame(encode(input, 42n), 0);
    expect(decoded.kind).toBe('frame');
    if (decoded.kind !== 'frame') return;
    expect(decoded.frame.offset).toBe(42n);
    expect(decoded.frame.timestamp).toBe(input.timestamp);
    expect(decoded.frame.key?.toString()).toBe('robot-7');
    expect([...(decoded.frame.value ?? [])]).toEqual([1, 2, 3, 4, 5]);
    expect(Object.keys(decoded.frame.headers)).toEqual(['schema-version', 'é']);

    const tombstone = decodeFrame(encode({ key: null, value: null, headers: [], timestamp: 0 }, 0n), 0);
    expect(tombstone).toMatchObject({ kind: 'frame', frame: { key: null, value: null, headers: {} } });
    const empty = decodeFrame(
      encode({ key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [], timestamp: 0 }, 0n),
      0,
    );
    expect(empty.kind === 'frame' && empty.frame.value?.length === 0 && empty.frame.key !== null).toBe(true);
  });

  it('reports a frame cut at every byte boundary as incomplete, never as a record', () => {
    const whole = encode(input, 7n);
    for (let cut = 0; cut < whole.length; cut++) {
      expect(decodeFrame(whole.subarray(0, cut), 0).kind).toBe('incomplete');
    }
  });

  it('reports any single flipped byte as corrupt (or, in the length, incomplete), never as another record', () => {
    const whole = encode(input, 7n);
    for (let i = 0; i < whole.length; i++) {
      const damaged = Buffer.from(whole);
      damaged[i] = (damaged[i] ?? 0) ^ 0x5a;
      expect(['corrupt', 'incomplete']).toContain(decodeFrame(damaged, 0).kind);
    }
  });

  it('round-trips the head and rejects a damaged one', () => {
    const head = { nextOffset: 2n ** 40n + 3n, activeBase: 2n ** 40n, activeSize: 123_456 };
    const bytes = encodeHead(head);
    expect(decodeHead(bytes)).toEqual(head);
    for (let i = 0; i < bytes.length; i++) {
      const damaged = Buffer.from(bytes);
      damaged[i] = (damaged[i] ?? 0) ^ 1;
      expect(decodeHead(damaged)).toBeUndefined();
    }
    expect(decodeHead(bytes.subarray(0, 20))).toBeUndefined();
  });
});
