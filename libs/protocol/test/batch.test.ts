import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeTelemetryBatch,
  encodeMessage,
  encodeTelemetryBatch,
  encodeTelemetryBatches,
  MAX_BATCH_BYTES,
  MAX_BATCH_SAMPLES,
  MAX_EPOCH_MS,
  peekTelemetryBatchHeader,
  ProtocolError,
  ProtocolErrorCode,
  TELEMETRY_BATCH_V1_MAX_BYTES,
  TELEMETRY_BATCH_V1_ROW_BYTES,
  telemetrySampleSchema,
  type TelemetrySample,
} from '../src/index.js';
import { batchSamples, epochMs, i32, id, LONGEST_ID, telemetrySample, u32 } from './arbitraries.js';
import { concat, expectProtocolError, resultOrProtocolError } from './helpers.js';

const sample = (over: Partial<TelemetrySample> = {}): TelemetrySample => ({
  kind: 'telemetry',
  robotId: 'r-1',
  bootId: 7,
  seq: 0,
  eventTime: 1_700_000_000_000,
  voltageMv: 16_000,
  currentMa: 1_500,
  socPermille: 800,
  batteryTempDeciC: 300,
  cycleCount: 12,
  siteId: 's-1',
  xMm: 1_000,
  yMm: -2_000,
  headingCdeg: 9_000,
  speedMmS: 250,
  dirtLevel: 40,
  mode: 'cleaning',
  errorFlags: 0,
  ...over,
});

const samples = (n: number, over: (i: number) => Partial<TelemetrySample> = () => ({})): TelemetrySample[] =>
  Array.from({ length: n }, (_, i) => sample({ seq: i, eventTime: 1_700_000_000_000 + i * 100, ...over(i) }));

describe('telemetry batch v1: layout', () => {
  it('writes the documented header and row bytes', () => {
    const bytes = encodeTelemetryBatch([
      sample({
        seq: 0x01020304,
        eventTime: 0x0605_0403_0201,
        voltageMv: 0xabcd,
        mode: 'charging',
        errorFlags: 0x80000001,
      }),
    ]);
    const header = [
      0xfb, 1, 0x01, 0, 1, 0, 7, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 3, 0x72, 0x2d, 0x31, 3, 0x73,
      0x2d, 0x31,
    ];
    expect([...bytes.subarray(0, header.length)]).toEqual(header);
    expect(bytes.length).toBe(header.length + TELEMETRY_BATCH_V1_ROW_BYTES);
    const row = new DataView(bytes.buffer, header.length);
    expect(row.getUint32(0, true)).toBe(0x01020304);
    expect(row.getInt32(4, true)).toBe(0);
    expect(row.getUint16(8, true)).toBe(0xabcd);
    expect(row.getInt32(10, true)).toBe(1_500);
    expect(row.getUint16(14, true)).toBe(800);
    expect(row.getInt16(16, true)).toBe(300);
    expect(row.getUint16(18, true)).toBe(12);
    expect(row.getInt32(20, true)).toBe(1_000);
    expect(row.getInt32(24, true)).toBe(-2_000);
    expect(row.getUint16(28, true)).toBe(9_000);
    expect(row.getInt16(30, true)).toBe(250);
    expect(row.getUint8(32)).toBe(40);
    expect(row.getUint8(33)).toBe(4);
    expect(row.getUint32(34, true)).toBe(0x80000001);
  });

  it('stays within the transport limit at its largest', () => {
    const full = samples(MAX_BATCH_SAMPLES, () => ({ robotId: LONGEST_ID, siteId: LONGEST_ID }));
    const bytes = encodeTelemetryBatch(full);
    expect(bytes.length).toBe(TELEMETRY_BATCH_V1_MAX_BYTES);
    expect(bytes.length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(decodeTelemetryBatch(bytes).samples).toEqual(full);
  });
});

describe('telemetry batch v1: round trip', () => {
  it('decode(encode(samples)) returns the samples and the batch identity', () => {
    fc.assert(
      fc.property(batchSamples(), (input) => {
        const batch = decodeTelemetryBatch(encodeTelemetryBatch(input));
        expect(batch.samples).toEqual(input);
        const first = input[0] as TelemetrySample;
        expect(batch).toMatchObject({
          schemaVersion: 1,
          robotId: first.robotId,
          bootId: first.bootId,
          siteId: first.siteId,
        });
      }),
    );
  });

  it('peek agrees with the full decode', () => {
    fc.assert(
      fc.property(batchSamples(), (input) => {
        const bytes = encodeTelemetryBatch(input);
        const h = peekTelemetryBatchHeader(bytes);
        const first = input[0] as TelemetrySample;
        const last = input[input.length - 1] as TelemetrySample;
        expect(h).toEqual({
          schemaVersion: 1,
          robotId: first.robotId,
          siteId: first.siteId,
          bootId: first.bootId,
          baseEventTime: first.eventTime,
          count: input.length,
          firstSeq: first.seq,
          lastSeq: last.seq,
          byteLength: bytes.length,
        });
      }),
    );
  });

  it('keeps offsets at both ends of the i32 range', () => {
    const base = 2 ** 40;
    const input = [
      sample({ eventTime: base }),
      sample({ eventTime: base - 2 ** 31 }),
      sample({ eventTime: base + 2 ** 31 - 1 }),
      sample({ eventTime: base }),
    ];
    expect(decodeTelemetryBatch(encodeTelemetryBatch(input)).samples).toEqual(input);
  });

  it('decodes from a Buffer that is a slice of a larger pool (non-zero byteOffset)', () => {
    const input = samples(5);
    const bytes = encodeTelemetryBatch(input);
    const pool = Buffer.alloc(bytes.length + 13, 0xee);
    pool.set(bytes, 7);
    expect(decodeTelemetryBatch(pool.subarray(7, 7 + bytes.length)).samples).toEqual(input);
  });
});

describe('telemetry batch v1: encoder checks', () => {
  it('rejects samples that disagree on robot, boot or site, naming field and index', () => {
    expectProtocolError(
      () => encodeTelemetryBatch(samples(3, (i) => (i === 2 ? { robotId: 'r-2' } : {}))),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[2].robotId',
      'r-2',
    );
    expectProtocolError(
      () => encodeTelemetryBatch(samples(3, (i) => (i === 1 ? { bootId: 8 } : {}))),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[1].bootId',
    );
    expectProtocolError(
      () => encodeTelemetryBatch(samples(3, (i) => (i === 1 ? { siteId: 's-2' } : {}))),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[1].siteId',
    );
  });

  it('rejects an event time whose offset from the first sample overflows i32', () => {
    const input = [sample({ eventTime: 0 }), sample({ eventTime: 2 ** 31 })];
    expectProtocolError(
      () => encodeTelemetryBatch(input),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[1].eventTime',
      'i32',
    );
  });

  it('rejects an empty batch and an oversized one', () => {
    expectProtocolError(
      () => encodeTelemetryBatch([]),
      ProtocolErrorCode.INVALID_MESSAGE,
      'at least one sample',
    );
    expectProtocolError(
      () => encodeTelemetryBatch(samples(MAX_BATCH_SAMPLES + 1)),
      ProtocolErrorCode.TOO_LARGE,
      '4097',
      '4096',
    );
  });

  /** A value for any field: valid ones, off-by-one ones, wrong widths, non-integers, wrong types. */
  const anyValue: fc.Arbitrary<unknown> = fc.oneof(
    fc.integer({ min: -(2 ** 48), max: 2 ** 48 }),
    fc.constantFrom(
      -1,
      0,
      1000,
      1001,
      35999,
      36000,
      255,
      256,
      0xffff,
      0x10000,
      0x7fff,
      0x8000,
      -0x8000,
      -0x8001,
    ),
    fc.constantFrom(
      0x7fffffff,
      0x80000000,
      -0x80000000,
      -0x80000001,
      0xffffffff,
      0x100000000,
      MAX_EPOCH_MS,
      MAX_EPOCH_MS + 1,
    ),
    fc.double(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, 0.5, -0.5),
    fc.constantFrom('1', '', 'cleaning', 'flying', null, undefined, true),
    id,
  );
  const fields = Object.keys(sample()) as (keyof TelemetrySample)[];

  it('accepts exactly what telemetrySampleSchema accepts (one field perturbed)', () => {
    fc.assert(
      fc.property(telemetrySample(), fc.constantFrom(...fields), anyValue, (valid, field, value) => {
        const s = { ...valid, [field]: value } as TelemetrySample;
        const schemaOk = telemetrySampleSchema.safeParse(s).success;
        const result = resultOrProtocolError(() => encodeTelemetryBatch([s]));
        if (schemaOk) {
          expect(result).toBeInstanceOf(Uint8Array);
        } else {
          expect(result).toBeInstanceOf(ProtocolError);
          expect((result as ProtocolError).code).toBe(ProtocolErrorCode.INVALID_MESSAGE);
          expect((result as ProtocolError).message).toContain(`samples[0].${field}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encodeTelemetryBatches', () => {
  const key = (s: TelemetrySample) => `${s.robotId}|${s.bootId}|${s.siteId}`;

  it('groups by robot, boot and site, splits at maxSamples, and keeps each group in order', () => {
    const mixed = fc.array(
      telemetrySample({
        robotId: fc.constantFrom('r-1', 'r-2', 'r-3'),
        bootId: fc.constantFrom(1, 2),
        siteId: fc.constant('s-1'),
        eventTime: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
      }),
      { maxLength: 80 },
    );
    fc.assert(
      fc.property(mixed, fc.integer({ min: 1, max: 12 }), (input, maxSamples) => {
        const records = encodeTelemetryBatches(input, { maxSamples });
        const decoded = records.map(decodeTelemetryBatch);
        for (const b of decoded) {
          expect(b.samples.length).toBeGreaterThan(0);
          expect(b.samples.length).toBeLessThanOrEqual(maxSamples);
          expect(new Set(b.samples.map(key)).size).toBe(1);
        }
        const byKey = (list: readonly TelemetrySample[]) => {
          const m = new Map<string, TelemetrySample[]>();
          for (const s of list) m.set(key(s), [...(m.get(key(s)) ?? []), s]);
          return m;
        };
        expect(byKey(decoded.flatMap((b) => b.samples))).toEqual(byKey(input));
        const groups = new Set(input.map(key)).size;
        const minimal = [...byKey(input).values()].reduce((n, g) => n + Math.ceil(g.length / maxSamples), 0);
        expect(records.length).toBe(minimal);
        expect(records.length).toBeGreaterThanOrEqual(groups);
      }),
    );
  });

  it('starts a new record when an event time is beyond an i32 offset from the record start', () => {
    const input = [
      sample({ seq: 0, eventTime: 0 }),
      sample({ seq: 1, eventTime: 2 ** 31 }),
      sample({ seq: 2, eventTime: 2 ** 31 + 5 }),
    ];
    const records = encodeTelemetryBatches(input);
    expect(records.map((r) => decodeTelemetryBatch(r).samples.map((s) => s.seq))).toEqual([[0], [1, 2]]);
  });

  it('returns no record for no samples and rejects a bad maxSamples', () => {
    expect(encodeTelemetryBatches([])).toEqual([]);
    expect(() => encodeTelemetryBatches(samples(2), { maxSamples: 0 })).toThrow(RangeError);
    expect(() => encodeTelemetryBatches(samples(2), { maxSamples: MAX_BATCH_SAMPLES + 1 })).toThrow(
      RangeError,
    );
  });

  it('fills records to MAX_BATCH_SAMPLES by default', () => {
    const records = encodeTelemetryBatches(samples(MAX_BATCH_SAMPLES * 2 + 1));
    expect(records.map((r) => peekTelemetryBatchHeader(r).count)).toEqual([
      MAX_BATCH_SAMPLES,
      MAX_BATCH_SAMPLES,
      1,
    ]);
  });
});

describe('telemetry batch v1: hostile input', () => {
  it('every truncation of a valid record is BAD_FRAME, and so is a trailing byte', () => {
    fc.assert(
      fc.property(batchSamples(6), (input) => {
        const bytes = encodeTelemetryBatch(input);
        for (let cut = 0; cut < bytes.length; cut++) {
          const prefix = bytes.subarray(0, cut);
          expectProtocolError(() => decodeTelemetryBatch(prefix), ProtocolErrorCode.BAD_FRAME);
          expectProtocolError(() => peekTelemetryBatchHeader(prefix), ProtocolErrorCode.BAD_FRAME);
        }
        expectProtocolError(
          () => decodeTelemetryBatch(concat(bytes, [0])),
          ProtocolErrorCode.BAD_FRAME,
          'trailing',
        );
      }),
      { numRuns: 50 },
    );
  });

  it('random bytes only ever raise ProtocolError', () => {
    const envelopeThenNoise = fc.uint8Array({ maxLength: 400 }).map((b) => concat([0xfb, 1, 1], b));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), envelopeThenNoise), (bytes) => {
        resultOrProtocolError(() => decodeTelemetryBatch(bytes));
        resultOrProtocolError(() => peekTelemetryBatchHeader(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('a decoded row either breaks the schema (INVALID_MESSAGE) or is a valid sample that re-encodes losslessly', () => {
    fc.assert(
      fc.property(
        batchSamples(4),
        fc.nat(),
        fc.uint8Array({ minLength: TELEMETRY_BATCH_V1_ROW_BYTES, maxLength: TELEMETRY_BATCH_V1_ROW_BYTES }),
        (input, pick, row) => {
          const bytes = encodeTelemetryBatch(input);
          const rowIndex = pick % input.length;
          bytes.set(row, bytes.length - (input.length - rowIndex) * TELEMETRY_BATCH_V1_ROW_BYTES);
          const result = resultOrProtocolError(() => decodeTelemetryBatch(bytes));
          if (result instanceof ProtocolError) {
            expect(result.code).toBe(ProtocolErrorCode.INVALID_MESSAGE);
            expect(result.message).toContain(`samples[${rowIndex}].`);
            return;
          }
          for (const s of result.samples) expect(telemetrySampleSchema.safeParse(s).success).toBe(true);
          const again = resultOrProtocolError(() =>
            decodeTelemetryBatch(encodeTelemetryBatch(result.samples)),
          );
          if (!(again instanceof ProtocolError)) expect(again.samples).toEqual(result.samples);
          else expect(again.message).toContain('i32');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('rejects header values outside the schema', () => {
    const bytes = () => encodeTelemetryBatch(samples(2));
    const flags = bytes();
    flags[3] = 0x80;
    expectProtocolError(() => decodeTelemetryBatch(flags), ProtocolErrorCode.INVALID_MESSAGE, 'flags');
    const zero = concat(bytes().subarray(0, 24));
    zero[4] = 0;
    expectProtocolError(() => decodeTelemetryBatch(zero), ProtocolErrorCode.INVALID_MESSAGE, 'count');
    const robot = bytes();
    robot[17] = 0x2f;
    expectProtocolError(
      () => decodeTelemetryBatch(robot),
      ProtocolErrorCode.INVALID_MESSAGE,
      'robotId',
      '"/-1"',
    );
    const base = bytes();
    new DataView(base.buffer).setUint16(14, 0x8001, true);
    expectProtocolError(() => decodeTelemetryBatch(base), ProtocolErrorCode.INVALID_MESSAGE, 'baseEventTime');
  });

  it('rejects an event time that base + offset pushes below 0', () => {
    const bytes = encodeTelemetryBatch([sample({ eventTime: 10 }), sample({ eventTime: 0 })]);
    new DataView(bytes.buffer).setInt32(bytes.length - TELEMETRY_BATCH_V1_ROW_BYTES + 4, -11, true);
    expectProtocolError(
      () => decodeTelemetryBatch(bytes),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[1].eventTime',
      '-1',
    );
  });

  it('refuses a single message record, naming what it is', () => {
    const presence = encodeMessage({
      kind: 'presence',
      robotId: 'r-1',
      online: true,
      reason: 'connected',
      at: 1,
    });
    expectProtocolError(
      () => decodeTelemetryBatch(presence),
      ProtocolErrorCode.UNKNOWN_TYPE,
      'presence',
      'decodeMessage',
    );
  });

  it('checks the count against the limit before reading rows', () => {
    const bytes = encodeTelemetryBatch(samples(1));
    new DataView(bytes.buffer).setUint16(4, MAX_BATCH_SAMPLES + 1, true);
    expectProtocolError(() => decodeTelemetryBatch(bytes), ProtocolErrorCode.TOO_LARGE, '4097', '4096');
  });
});

describe('telemetry batch arbitraries', () => {
  it('cover the extremes of the offset range', () => {
    fc.assert(
      fc.property(epochMs, i32, u32, id, (base, offset, bootId, robotId) => {
        const t = base + offset;
        fc.pre(t >= 0 && t <= MAX_EPOCH_MS);
        const input = [
          sample({ robotId, bootId, eventTime: base }),
          sample({ robotId, bootId, eventTime: t }),
        ];
        expect(decodeTelemetryBatch(encodeTelemetryBatch(input)).samples).toEqual(input);
      }),
    );
  });
});
