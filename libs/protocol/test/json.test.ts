import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeJson,
  decodePayload,
  encodeJson,
  encodeMessage,
  encodeTelemetryBatch,
  encodeTelemetryBatchJson,
  MAX_BATCH_SAMPLES,
  MAX_JSON_BYTES,
  payloadFormat,
  ProtocolError,
  ProtocolErrorCode,
  type Message,
  type TelemetrySample,
} from '../src/index.js';
import { batchSamples, LONGEST_ID, message, messageByKind } from './arbitraries.js';
import { expectProtocolError, resultOrProtocolError } from './helpers.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const kinds = Object.keys(messageByKind) as (keyof typeof messageByKind)[];

const sample: TelemetrySample = {
  kind: 'telemetry',
  robotId: 'r-1',
  bootId: 3,
  seq: 1,
  eventTime: 1_700_000_000_000,
  voltageMv: 15_000,
  currentMa: -200,
  socPermille: 1000,
  batteryTempDeciC: -50,
  cycleCount: 1,
  siteId: 's-1',
  xMm: 0,
  yMm: 0,
  headingCdeg: 35999,
  speedMmS: 0,
  dirtLevel: 255,
  mode: 'charging',
  errorFlags: 0xffffffff,
};

describe('JSON codec: round trip', () => {
  for (const kind of kinds) {
    it(`decodePayload(encodeJson(m)) equals m for ${kind}`, () => {
      fc.assert(
        fc.property(messageByKind[kind] as fc.Arbitrary<Message>, (m) => {
          expect(decodePayload(encodeJson(m))).toEqual({ type: 'message', format: 'json', message: m });
        }),
        { numRuns: 200 },
      );
    });
  }

  it('round-trips a telemetry batch as an object and as a bare array', () => {
    fc.assert(
      fc.property(batchSamples(20), (samples) => {
        const first = samples[0] as TelemetrySample;
        const expected = {
          schemaVersion: 1,
          robotId: first.robotId,
          bootId: first.bootId,
          siteId: first.siteId,
          samples,
        };
        expect(decodePayload(encodeTelemetryBatchJson(samples))).toEqual({
          type: 'telemetry_batch',
          format: 'json',
          batch: expected,
        });
        expect(decodePayload(utf8(JSON.stringify(samples)))).toEqual({
          type: 'telemetry_batch',
          format: 'json',
          batch: expected,
        });
      }),
      { numRuns: 100 },
    );
  });

  it('JSON and binary decode to the same message', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodePayload(encodeJson(m)).type).toBe('message');
        const fromJson = decodePayload(encodeJson(m));
        const fromBinary = decodePayload(encodeMessage(m));
        expect(fromJson.type === 'message' && fromJson.message).toEqual(
          fromBinary.type === 'message' && fromBinary.message,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('fits a full batch with the longest ids, even pretty-printed, under MAX_JSON_BYTES', () => {
    const samples = Array.from({ length: MAX_BATCH_SAMPLES }, (_, i) => ({
      ...sample,
      robotId: LONGEST_ID,
      siteId: LONGEST_ID,
      seq: 4_000_000_000 + i,
      eventTime: 140_000_000_000_000 + i,
      currentMa: -2_000_000_000,
      xMm: -2_000_000_000,
      yMm: -2_000_000_000,
    }));
    const pretty = utf8(JSON.stringify({ kind: 'telemetry_batch', samples }, null, 2));
    expect(pretty.length).toBeLessThanOrEqual(MAX_JSON_BYTES);
    const decoded = decodeJson(pretty);
    expect(decoded.type === 'telemetry_batch' && decoded.batch.samples.length).toBe(MAX_BATCH_SAMPLES);
  });
});

describe('payload sniffing', () => {
  it('treats leading JSON whitespace then { or [ as JSON, anything else as binary', () => {
    expect(payloadFormat(utf8(' \t\r\n{'))).toBe('json');
    expect(payloadFormat(utf8('\n['))).toBe('json');
    expect(payloadFormat(new Uint8Array([0xfb, 1, 1]))).toBe('binary');
    expect(payloadFormat(new Uint8Array([]))).toBe('binary');
    const m: Message = { kind: 'presence', robotId: 'r-1', online: false, reason: 'disconnected', at: 3 };
    expect(decodePayload(utf8(`\n  ${JSON.stringify(m)}\n`))).toEqual({
      type: 'message',
      format: 'json',
      message: m,
    });
  });

  it('dispatches binary payloads on the record type', () => {
    const batch = decodePayload(encodeTelemetryBatch([sample]));
    expect(batch).toMatchObject({
      type: 'telemetry_batch',
      format: 'binary',
      batch: { robotId: 'r-1', samples: [sample] },
    });
    expect(decodePayload(encodeMessage(sample))).toEqual({
      type: 'message',
      format: 'binary',
      message: sample,
    });
  });

  it('random payloads, binary or JSON-looking, only ever raise ProtocolError', () => {
    const jsonish = fc.oneof(
      fc.json(),
      fc.string().map((s) => `{${s}`),
      fc.string().map((s) => `[${s}`),
    );
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), jsonish.map(utf8)), (bytes) => {
        resultOrProtocolError(() => decodePayload(bytes));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('JSON codec: errors', () => {
  it('malformed JSON and malformed UTF-8 are INVALID_MESSAGE', () => {
    expectProtocolError(
      () => decodePayload(utf8('{"kind": "presence",')),
      ProtocolErrorCode.INVALID_MESSAGE,
      'not valid JSON',
    );
    expectProtocolError(
      () => decodePayload(new Uint8Array([0x7b, 0xff, 0x7d])),
      ProtocolErrorCode.INVALID_MESSAGE,
      'UTF-8',
    );
  });

  it('a schema violation names the path and the problem', () => {
    const bad = [sample, { ...sample, seq: 2, socPermille: 1001 }];
    const e = expectProtocolError(
      () => decodePayload(utf8(JSON.stringify(bad))),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[1].socPermille',
      '1000',
    );
    expect(e.details['issues']).toEqual([
      { path: 'samples[1].socPermille', message: expect.stringContaining('1000') },
    ]);
    expectProtocolError(
      () =>
        decodePayload(
          utf8(JSON.stringify({ kind: 'telemetry_batch', samples: [{ ...sample, mode: 'flying' }] })),
        ),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[0].mode',
    );
    expectProtocolError(
      () => decodePayload(utf8('{"kind":"teleport"}')),
      ProtocolErrorCode.INVALID_MESSAGE,
      'kind',
    );
    expectProtocolError(
      () =>
        decodePayload(
          utf8(
            JSON.stringify({ kind: 'presence', robotId: 'r-1', online: 'yes', reason: 'connected', at: 0 }),
          ),
        ),
      ProtocolErrorCode.INVALID_MESSAGE,
      'online',
    );
  });

  it('a batch whose samples disagree names the sample and field', () => {
    const mixed = [sample, { ...sample, bootId: 4 }];
    expectProtocolError(
      () => decodePayload(utf8(JSON.stringify(mixed))),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[1].bootId',
    );
    expectProtocolError(
      () => encodeTelemetryBatchJson(mixed),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[1].bootId',
    );
    expectProtocolError(() => decodePayload(utf8('[]')), ProtocolErrorCode.INVALID_MESSAGE);
  });

  it('too many samples or too many bytes is TOO_LARGE, naming actual and limit', () => {
    const many = Array.from({ length: MAX_BATCH_SAMPLES + 1 }, () => sample);
    expectProtocolError(
      () => decodeJson(utf8(JSON.stringify(many))),
      ProtocolErrorCode.TOO_LARGE,
      '4097',
      '4096',
    );
    const huge = new Uint8Array(MAX_JSON_BYTES + 1).fill(0x20);
    huge[0] = 0x7b;
    expectProtocolError(
      () => decodePayload(huge),
      ProtocolErrorCode.TOO_LARGE,
      String(MAX_JSON_BYTES + 1),
      String(MAX_JSON_BYTES),
    );
  });

  it('encodeJson validates before writing', () => {
    const e = expectProtocolError(
      () => encodeJson({ ...sample, headingCdeg: 36000 }),
      ProtocolErrorCode.INVALID_MESSAGE,
      'headingCdeg',
    );
    expect(e).toBeInstanceOf(ProtocolError);
  });
});
