import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  encodeTelemetryBatch,
  MAX_MESSAGE_BYTES,
  messageSchema,
  messageTypeCodes,
  ProtocolError,
  ProtocolErrorCode,
  robotModeCodes,
  TELEMETRY_BATCH_RECORD_TYPE,
  type Message,
  type RobotMetadata,
} from '../src/index.js';
import { LONGEST_ID, message, messageByKind, robotMetadata, zone } from './arbitraries.js';
import { concat, expectProtocolError, resultOrProtocolError } from './helpers.js';

const kinds = Object.keys(messageByKind) as (keyof typeof messageByKind)[];

describe('binary messages: round trip', () => {
  for (const kind of kinds) {
    it(`decodeMessage(encodeMessage(m)) equals m for ${kind}`, () => {
      fc.assert(
        fc.property(messageByKind[kind] as fc.Arbitrary<Message>, (m) => {
          const bytes = encodeMessage(m);
          expect(bytes[0]).toBe(0xfb);
          expect(bytes[1]).toBe(1);
          expect(bytes[2]).toBe(messageTypeCodes.encode(kind));
          expect(decodeMessage(bytes)).toEqual(m);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('carries a metadata record with the maximum 256 zones', () => {
    fc.assert(
      fc.property(fc.array(zone, { minLength: 256, maxLength: 256 }), robotMetadata(0), (zones, base) => {
        const m: RobotMetadata = { ...base, zones };
        const bytes = encodeMessage(m);
        expect(bytes.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
        expect(decodeMessage(bytes)).toEqual(m);
      }),
      { numRuns: 5 },
    );
  });
});

describe('binary messages: layout', () => {
  it('writes presence as documented: envelope | id robotId | bool online | u8 reason | u48 at', () => {
    const bytes = encodeMessage({
      kind: 'presence',
      robotId: 'r-1',
      online: true,
      reason: 'last_will',
      at: 0x0102_0304_0506,
    });
    expect([...bytes]).toEqual([
      0xfb, 1, 0x14, 3, 0x72, 0x2d, 0x31, 1, 2, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
    ]);
  });

  it('writes go_to_zone with the zone id after the action code', () => {
    const bytes = encodeMessage({
      kind: 'command',
      commandId: 'c',
      robotId: 'r',
      action: { type: 'go_to_zone', zoneId: 'z9' },
      issuedAt: 1,
      deadline: 2,
    });
    expect([...bytes]).toEqual([
      0xfb, 1, 0x11, 1, 0x63, 1, 0x72, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 2, 0x7a, 0x39,
    ]);
  });

  it('gives every kind and enum value a distinct code, and none collides with the batch record type', () => {
    const typeCodes = kinds.map((k) => messageTypeCodes.encode(k));
    expect(new Set(typeCodes).size).toBe(kinds.length);
    expect(typeCodes).not.toContain(TELEMETRY_BATCH_RECORD_TYPE);
    expect(robotModeCodes.names).toEqual(['idle', 'cleaning', 'moving', 'docking', 'charging', 'error']);
  });
});

describe('binary messages: encoder checks', () => {
  it('rejects a message that breaks its schema, naming the path', () => {
    const bad = {
      kind: 'command',
      commandId: 'c-1',
      robotId: 'r-1',
      action: { type: 'stop' },
      issuedAt: 10,
      deadline: 9,
    } as const;
    expectProtocolError(
      () => encodeMessage(bad),
      ProtocolErrorCode.INVALID_MESSAGE,
      'deadline',
      'must not be before issuedAt',
    );
    const badId = { kind: 'presence', robotId: 'r/1', online: true, reason: 'connected', at: 0 } as const;
    expectProtocolError(() => encodeMessage(badId), ProtocolErrorCode.INVALID_MESSAGE, 'robotId');
  });

  it('rejects text with an unpaired surrogate, which UTF-8 cannot carry', () => {
    const ack = {
      kind: 'command_ack',
      commandId: 'c',
      robotId: 'r',
      outcome: 'failed',
      source: 'firmware',
      robotTime: 0,
      detail: 'x\ud800',
    } as const;
    expectProtocolError(() => encodeMessage(ack), ProtocolErrorCode.INVALID_MESSAGE, 'detail', 'surrogate');
  });
});

describe('binary messages: hostile input', () => {
  it('every truncation of a valid record is BAD_FRAME, and so is a trailing byte', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeMessage(m);
        for (let cut = 0; cut < bytes.length; cut++) {
          expectProtocolError(() => decodeMessage(bytes.subarray(0, cut)), ProtocolErrorCode.BAD_FRAME);
        }
        expectProtocolError(() => decodeMessage(concat(bytes, [0])), ProtocolErrorCode.BAD_FRAME, 'trailing');
      }),
      { numRuns: 200 },
    );
  });

  it('random bytes only ever raise ProtocolError', () => {
    const typed = fc
      .tuple(
        fc.constantFrom(...kinds.map((k) => messageTypeCodes.encode(k))),
        fc.uint8Array({ maxLength: 300 }),
      )
      .map(([type, body]) => concat([0xfb, 1, type], body));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 100 }), typed), (bytes) => {
        const result = resultOrProtocolError(() => decodeMessage(bytes));
        if (!(result instanceof ProtocolError)) expect(messageSchema.safeParse(result).success).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('a corrupted valid record decodes to a schema-valid message or raises ProtocolError', () => {
    fc.assert(
      fc.property(
        message,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        (m, flips) => {
          const bytes = encodeMessage(m);
          for (const [at, mask] of flips) {
            const i = 3 + (at % Math.max(1, bytes.length - 3));
            bytes[i] = (bytes[i] ?? 0) ^ mask;
          }
          const result = resultOrProtocolError(() => decodeMessage(bytes));
          if (!(result instanceof ProtocolError)) {
            expect(messageSchema.safeParse(result).success).toBe(true);
            expect(decodeMessage(encodeMessage(result))).toEqual(result);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('names the field of an out-of-range enum code', () => {
    const bytes = encodeMessage({
      kind: 'presence',
      robotId: 'r-1',
      online: true,
      reason: 'connected',
      at: 5,
    });
    bytes[8] = 9;
    expectProtocolError(
      () => decodeMessage(bytes),
      ProtocolErrorCode.INVALID_MESSAGE,
      'reason',
      'unknown code 9',
    );
    bytes[8] = 0;
    bytes[7] = 2;
    expectProtocolError(() => decodeMessage(bytes), ProtocolErrorCode.INVALID_MESSAGE, 'online');
  });

  it('rejects malformed UTF-8 in text fields', () => {
    const bytes = encodeMessage({
      kind: 'robot_event',
      robotId: 'r',
      bootId: 1,
      seq: 2,
      eventTime: 3,
      event: { type: 'boot', firmwareVersion: 'ab', resetReason: 'watchdog' },
    });
    bytes[bytes.length - 2] = 0xc3;
    expectProtocolError(
      () => decodeMessage(bytes),
      ProtocolErrorCode.INVALID_MESSAGE,
      'event.firmwareVersion',
      'UTF-8',
    );
  });

  it('refuses a telemetry batch record, pointing at its decoder', () => {
    const batch = encodeTelemetryBatch([
      {
        kind: 'telemetry',
        robotId: LONGEST_ID,
        bootId: 0,
        seq: 0,
        eventTime: 0,
        voltageMv: 0,
        currentMa: 0,
        socPermille: 0,
        batteryTempDeciC: 0,
        cycleCount: 0,
        siteId: 's',
        xMm: 0,
        yMm: 0,
        headingCdeg: 0,
        speedMmS: 0,
        dirtLevel: 0,
        mode: 'idle',
        errorFlags: 0,
      },
    ]);
    expectProtocolError(
      () => decodeMessage(batch),
      ProtocolErrorCode.UNKNOWN_TYPE,
      'telemetry batch',
      'decodeTelemetryBatch',
    );
  });

  it('rejects a record above MAX_MESSAGE_BYTES before parsing it', () => {
    const big = new Uint8Array(MAX_MESSAGE_BYTES + 1);
    big.set([0xfb, 1, 0x15]);
    expectProtocolError(
      () => decodeMessage(big),
      ProtocolErrorCode.TOO_LARGE,
      String(MAX_MESSAGE_BYTES + 1),
      String(MAX_MESSAGE_BYTES),
    );
  });
});
