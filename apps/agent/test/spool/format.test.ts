/**
 * The spool's on-disk codec (pure). A crash can cut a file at any byte and a failing medium can
 * change any byte, so both are tried everywhere: a scan must return exactly the records that are
 * whole and unchanged, never one that is not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACK_HEADER_BYTES,
  decodeMetaFile,
  decodeSegmentHeader,
  encodeAckBatch,
  encodeMetaSlot,
  encodeRecord,
  encodeSegmentHeader,
  META_FILE_BYTES,
  META_SLOT_BYTES,
  recordBytes,
  scanAckLog,
  scanSegment,
  SEGMENT_HEADER_BYTES,
  type SpoolMeta,
} from '../../src/spool/format.js';
import { parseSegmentFileName, segmentFileName } from '../../src/spool/segment.js';
import type { SpoolClass } from '../../src/spool/spool.js';

interface Written {
  readonly bytes: Uint8Array;
  readonly ids: number[];
  readonly payloads: Uint8Array[];
  /** End offset of each record. */
  readonly ends: number[];
}

function segmentOf(cls: SpoolClass, firstId: number, payloads: Uint8Array[], gaps: number[] = []): Written {
  const size = SEGMENT_HEADER_BYTES + payloads.reduce((n, p) => n + recordBytes(p.byteLength), 0);
  const bytes = new Uint8Array(size);
  encodeSegmentHeader({ cls, firstId }, bytes);
  const ids: number[] = [];
  const ends: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  let id = firstId;
  payloads.forEach((p, i) => {
    ids.push(id);
    at = encodeRecord(bytes, at, id, p);
    ends.push(at);
    id += 1 + (gaps[i] ?? 0);
  });
  return { bytes, ids, payloads, ends };
}

function payloads(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) =>
    Uint8Array.from({ length: (i * 7) % 23 }, (_, j) => (i * 31 + j) & 0xff),
  );
}

describe('segment records', () => {
  it('round-trip: ids, payloads and offsets come back as written', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<SpoolClass>('telemetry', 'priority'),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 1e9 }),
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 30 }),
        fc.array(fc.nat({ max: 1000 }), { maxLength: 30 }),
        (cls, firstId, ps, gaps) => {
          const w = segmentOf(cls, firstId, ps, gaps);
          const scan = scanSegment(w.bytes, { cls, firstId });
          expect(scan.header).toEqual({ cls, firstId });
          expect([...scan.ids]).toEqual(w.ids);
          expect(scan.validEnd).toBe(w.bytes.byteLength);
          expect(scan.fault).toBeUndefined();
          expect([...scan.offsets]).toEqual([SEGMENT_HEADER_BYTES, ...w.ends].slice(0, w.ends.length));
        },
      ),
    );
  });

  it('cut at every byte: exactly the whole records before the cut are read', () => {
    const w = segmentOf('telemetry', 42, payloads(8));
    for (let cut = 0; cut <= w.bytes.byteLength; cut++) {
      const scan = scanSegment(w.bytes.subarray(0, cut), { cls: 'telemetry', firstId: 42 });
      if (cut < SEGMENT_HEADER_BYTES) {
        expect(scan.header).toBeUndefined();
        expect(scan.validEnd).toBe(0);
        continue;
      }
      const whole = w.ends.filter((end) => end <= cut).length;
      expect(scan.count).toBe(whole);
      expect([...scan.ids]).toEqual(w.ids.slice(0, whole));
      expect(scan.validEnd).toBe(whole === 0 ? SEGMENT_HEADER_BYTES : w.ends[whole - 1]);
      expect(scan.fault).toBe(cut === scan.validEnd ? undefined : 'short');
    }
  });

  it('any changed byte: the record holding it and everything after are cut, nothing changed is read', () => {
    const w = segmentOf('priority', 7, payloads(6));
    for (let at = SEGMENT_HEADER_BYTES; at < w.bytes.byteLength; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bytes = w.bytes.slice();
        bytes[at] = (bytes[at] ?? 0) ^ flip;
        const scan = scanSegment(bytes, { cls: 'priority', firstId: 7 });
        const holding = w.ends.findIndex((end) => at < end);
        expect(scan.count).toBe(holding);
        expect([...scan.ids]).toEqual(w.ids.slice(0, holding));
        expect(scan.fault).toBeDefined();
      }
    }
  });

  it('a zero-filled tail (what power loss can leave) is a fault, not a record', () => {
    const w = segmentOf('telemetry', 1, payloads(3));
    const bytes = new Uint8Array(w.bytes.byteLength + 4096);
    bytes.set(w.bytes);
    const scan = scanSegment(bytes, { cls: 'telemetry', firstId: 1 });
    expect(scan.count).toBe(3);
    expect(scan.validEnd).toBe(w.bytes.byteLength);
    expect(scan.fault).toBe('crc');
  });

  it('ids must increase within a file', () => {
    const bytes = new Uint8Array(SEGMENT_HEADER_BYTES + 2 * recordBytes(1));
    encodeSegmentHeader({ cls: 'telemetry', firstId: 5 }, bytes);
    const at = encodeRecord(bytes, SEGMENT_HEADER_BYTES, 6, new Uint8Array([1]));
    encodeRecord(bytes, at, 6, new Uint8Array([2]));
    expect(scanSegment(bytes)).toMatchObject({ count: 1, fault: 'id' });
  });

  it('a header of another class, first id or format is not read at all', () => {
    const w = segmentOf('telemetry', 10, payloads(2));
    expect(scanSegment(w.bytes, { cls: 'priority', firstId: 10 }).fault).toBe('header');
    expect(scanSegment(w.bytes, { cls: 'telemetry', firstId: 11 }).fault).toBe('header');
    const other = w.bytes.slice();
    other[4] = 2;
    expect(decodeSegmentHeader(other)).toBeUndefined();
  });
});

describe('ack log', () => {
  function ackLog(batches: number[][]): { bytes: Uint8Array; ends: number[] } {
    const parts = batches.map((ids, i) => encodeAckBatch(ids, i === 0));
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    const ends: number[] = [];
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.byteLength;
      ends.push(at);
    }
    return { bytes, ends };
  }

  it('cut at every byte: the whole batches before the cut are read', () => {
    const batches = [[3, 1, 2], [9], [2 ** 40, 5, 6, 7]];
    const { bytes, ends } = ackLog(batches);
    for (let cut = 0; cut <= bytes.byteLength; cut++) {
      const scan = scanAckLog(bytes.subarray(0, cut));
      expect(scan.headerOk).toBe(cut >= ACK_HEADER_BYTES);
      const whole = ends.filter((end) => end <= cut).length;
      expect(scan.ids).toEqual(batches.slice(0, whole).flat());
      expect(scan.validEnd).toBe(
        cut < ACK_HEADER_BYTES ? 0 : whole === 0 ? ACK_HEADER_BYTES : ends[whole - 1],
      );
    }
  });

  it('a changed byte ends the log at the batch holding it', () => {
    const batches = [[1, 2], [3, 4, 5], [6]];
    const { bytes, ends } = ackLog(batches);
    for (let at = ACK_HEADER_BYTES; at < bytes.byteLength; at++) {
      const changed = bytes.slice();
      changed[at] = (changed[at] ?? 0) ^ 0x10;
      const holding = ends.findIndex((end) => at < end);
      expect(scanAckLog(changed).ids).toEqual(batches.slice(0, holding).flat());
    }
  });
});

describe('meta', () => {
  const meta = (sequence: number): SpoolMeta => ({
    sequence,
    leaseEnd: 1000 + sequence,
    droppedTelemetry: sequence * 3,
    corruptRecords: 1,
  });

  function file(a: SpoolMeta | undefined, b: SpoolMeta | undefined): Uint8Array {
    const bytes = new Uint8Array(META_FILE_BYTES);
    if (a !== undefined) bytes.set(encodeMetaSlot(a), 0);
    if (b !== undefined) bytes.set(encodeMetaSlot(b), META_SLOT_BYTES);
    return bytes;
  }

  it('the newer of two valid slots wins', () => {
    expect(decodeMetaFile(file(meta(4), meta(5)))).toEqual(meta(5));
    expect(decodeMetaFile(file(meta(6), meta(5)))).toEqual(meta(6));
  });

  it('a torn write of one slot leaves the other: every cut and every changed byte of the newer slot', () => {
    const whole = file(meta(6), meta(7));
    for (let at = META_SLOT_BYTES; at < META_FILE_BYTES; at++) {
      const changed = whole.slice();
      changed[at] = (changed[at] ?? 0) ^ 0x04;
      expect(decodeMetaFile(changed)).toEqual(meta(6));
      expect(decodeMetaFile(whole.subarray(0, at))).toEqual(meta(6));
    }
    expect(decodeMetaFile(new Uint8Array(META_FILE_BYTES))).toBeUndefined();
  });
});

describe('file names', () => {
  it('name a segment and its ack log by class and first id, and nothing else parses', () => {
    expect(segmentFileName('telemetry', 12, 'seg')).toBe('telemetry-00000000000000000012.seg');
    expect(parseSegmentFileName('priority-00000000000000000012.ack')).toEqual({
      cls: 'priority',
      firstId: 12,
      kind: 'ack',
    });
    for (const name of [
      'LOCK',
      'spool.meta',
      'telemetry-12.seg',
      'other-00000000000000000012.seg',
      'telemetry-00000000000000000000.seg',
    ]) {
      expect(parseSegmentFileName(name)).toBeUndefined();
    }
  });
});
