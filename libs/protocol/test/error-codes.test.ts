/**
 * One test per ProtocolError code this package's codecs raise, showing the typed error a caller
 * acts on and that its message names what was wrong. (BAD_CHECKSUM belongs to the serial framing.)
 */
import { describe, expect, it } from 'vitest';
import {
  checkPayloadSize,
  decodePayload,
  decodeTelemetryBatch,
  encodeTelemetryBatch,
  isProtocolError,
  MAX_BATCH_BYTES,
  parseMqttTopic,
  ProtocolError,
  ProtocolErrorCode,
  type TelemetrySample,
} from '../src/index.js';
import { expectProtocolError } from './helpers.js';

const sample = (seq: number): TelemetrySample => ({
  kind: 'telemetry',
  robotId: 'r-1',
  bootId: 1,
  seq,
  eventTime: 1_700_000_000_000 + seq,
  voltageMv: 15_000,
  currentMa: 0,
  socPermille: 500,
  batteryTempDeciC: 250,
  cycleCount: 3,
  siteId: 's-1',
  xMm: 0,
  yMm: 0,
  headingCdeg: 0,
  speedMmS: 0,
  dirtLevel: 0,
  mode: 'idle',
  errorFlags: 0,
});
const record = () => encodeTelemetryBatch([sample(0), sample(1), sample(2), sample(3)]);

function poisonous(e: ProtocolError): void {
  expect(e).toBeInstanceOf(Error);
  expect(e.name).toBe('ProtocolError');
  expect(e.poison).toBe(true);
  expect(e.retriable).toBe(false);
  expect(isProtocolError(e, e.code)).toBe(true);
}

describe('ProtocolError codes', () => {
  it('BAD_FRAME: a truncated record names the field it ran out in', () => {
    const bytes = record();
    const e = expectProtocolError(
      () => decodePayload(bytes.subarray(0, bytes.length - 1)),
      ProtocolErrorCode.BAD_FRAME,
      'truncated',
      'rows',
    );
    expect(e.details).toMatchObject({ needed: 4 * 38, available: 4 * 38 - 1 });
    poisonous(e);
  });

  it('UNKNOWN_TYPE: an unknown magic byte or record type is named in hex', () => {
    poisonous(
      expectProtocolError(
        () => decodePayload(new Uint8Array([0x42, 1, 1])),
        ProtocolErrorCode.UNKNOWN_TYPE,
        'magic byte 0x42',
      ),
    );
    poisonous(
      expectProtocolError(
        () => decodePayload(new Uint8Array([0xfb, 1, 0x99])),
        ProtocolErrorCode.UNKNOWN_TYPE,
        'record type 0x99',
      ),
    );
  });

  it('UNKNOWN_VERSION: names the version and the supported ones', () => {
    const bytes = record();
    bytes[1] = 2;
    const e = expectProtocolError(
      () => decodeTelemetryBatch(bytes),
      ProtocolErrorCode.UNKNOWN_VERSION,
      'version 2',
      'supported: 1',
    );
    expect(e.details).toMatchObject({ version: 2, supported: [1] });
    poisonous(e);
    const message = new Uint8Array([0xfb, 7, 0x14]);
    expectProtocolError(
      () => decodePayload(message),
      ProtocolErrorCode.UNKNOWN_VERSION,
      'presence layout version 7',
      'supported: 1',
    );
  });

  it('TOO_LARGE: names the actual size and the limit', () => {
    const oversized = new Uint8Array(MAX_BATCH_BYTES + 10);
    oversized.set([0xfb, 1, 0x01]);
    const e = expectProtocolError(
      () => decodePayload(oversized),
      ProtocolErrorCode.TOO_LARGE,
      String(MAX_BATCH_BYTES + 10),
      String(MAX_BATCH_BYTES),
    );
    expect(e.details).toMatchObject({ length: MAX_BATCH_BYTES + 10, limit: MAX_BATCH_BYTES });
    poisonous(e);
    expectProtocolError(() => checkPayloadSize('cmd', 5000), ProtocolErrorCode.TOO_LARGE, '5000', '4096');
  });

  it('INVALID_MESSAGE: a bad value names the field and the sample index', () => {
    const bytes = record();
    new DataView(bytes.buffer).setUint16(bytes.length - 2 * 38 + 14, 1001, true);
    const e = expectProtocolError(
      () => decodeTelemetryBatch(bytes),
      ProtocolErrorCode.INVALID_MESSAGE,
      'samples[2].socPermille',
      '1001',
      '0..1000',
    );
    expect(e.details).toMatchObject({ field: 'samples[2].socPermille', sampleIndex: 2, value: 1001 });
    poisonous(e);
  });

  it('BAD_TOPIC: names the part of the topic that is wrong', () => {
    poisonous(
      expectProtocolError(
        () => parseMqttTopic('fleet/v1/site-1/robot#1/telemetry'),
        ProtocolErrorCode.BAD_TOPIC,
        'robot id "robot#1"',
      ),
    );
  });
});
