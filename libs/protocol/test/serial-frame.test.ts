import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isProtocolError, ProtocolError, ProtocolErrorCode } from '../src/errors.js';
import {
  commandAckSchema,
  commandSchema,
  robotEventSchema,
  telemetrySampleSchema,
  type TelemetrySample,
} from '../src/messages.js';
import {
  cobsDecode,
  crc16CcittFalse,
  decodeSerialFrame,
  encodeSerialFrame,
  MAX_SERIAL_FRAME_SIZE,
  type SerialFrame,
  type SerialSampleFrame,
} from '../src/serial/index.js';
import {
  ackFrame,
  anyFrame,
  commandFrame,
  eventFrame,
  resumeFrame,
  sampleFrame,
} from './fixtures/serial/arbitraries.js';
import { bodyOf, concatBytes, patch, wire } from './fixtures/serial/craft.js';

const hex = (s: string) => Uint8Array.from(s.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));

/** The error `fn` throws; fails the test when it throws something else or nothing. */
function thrown(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}

/**
 * The platform message a frame becomes once the agent adds what it knows; must satisfy the zod
 * schemas. A resume frame is link control between agent and firmware: it becomes no message.
 */
function lift(frame: Exclude<SerialFrame, { type: 'resume' }>): unknown {
  const robotId = 'robot-1';
  switch (frame.type) {
    case 'sample': {
      const { type: _type, robotTime, ...measured } = frame;
      return { kind: 'telemetry', robotId, siteId: 'site-1', eventTime: robotTime, ...measured };
    }
    case 'event':
      return {
        kind: 'robot_event',
        robotId,
        bootId: frame.bootId,
        seq: frame.seq,
        eventTime: frame.robotTime,
        event: frame.body,
      };
    case 'ack': {
      const { type: _type, ...ack } = frame;
      return { kind: 'command_ack', robotId, source: 'firmware', ...ack };
    }
    case 'command':
      return {
        kind: 'command',
        robotId,
        commandId: frame.commandId,
        action: frame.action,
        issuedAt: 0,
        deadline: frame.deadlineRobotTime,
      };
  }
}

const schemaOf = {
  sample: telemetrySampleSchema,
  event: robotEventSchema,
  ack: commandAckSchema,
  command: commandSchema,
} as const;

const SAMPLE: SerialSampleFrame = {
  type: 'sample',
  bootId: 0x01020304,
  seq: 0x0a0b0c0d,
  robotTime: 0x0123_4567_89ab,
  voltageMv: 14_400,
  currentMa: -2,
  socPermille: 1000,
  batteryTempDeciC: -400,
  cycleCount: 0x1234,
  xMm: -1,
  yMm: 0x7fff_ffff,
  headingCdeg: 35_999,
  speedMmS: -32_768,
  dirtLevel: 0xab,
  mode: 'charging',
  errorFlags: 0x8000_0021,
};

describe('serial frame v1 round trip', () => {
  it.each([
    ['sample', sampleFrame],
    ['event', eventFrame],
    ['ack', ackFrame],
    ['command', commandFrame],
    ['resume', resumeFrame],
  ] as const)('decodes every %s frame to exactly what was encoded', (_, arbitrary) => {
    fc.assert(
      fc.property(arbitrary, fc.boolean(), (frame: SerialFrame, leadingDelimiter) => {
        expect(decodeSerialFrame(encodeSerialFrame(frame, { leadingDelimiter }))).toStrictEqual(frame);
      }),
    );
  });

  it('puts 00 only at the delimiters, and keeps every frame within the size limit', () => {
    fc.assert(
      fc.property(anyFrame, (frame) => {
        const bytes = encodeSerialFrame(frame, { leadingDelimiter: true });
        expect(bytes[0]).toBe(0);
        expect(bytes.at(-1)).toBe(0);
        expect(bytes.subarray(1, -1).includes(0)).toBe(false);
        expect(cobsDecode(bytes.subarray(1, -1)).length).toBeLessThanOrEqual(MAX_SERIAL_FRAME_SIZE);
      }),
    );
  });

  it('decodes only values the platform schemas accept', () => {
    fc.assert(
      fc.property(anyFrame, (frame) => {
        const decoded = decodeSerialFrame(encodeSerialFrame(frame));
        if (decoded.type === 'resume') return;
        const result = schemaOf[decoded.type].safeParse(lift(decoded));
        expect(result.error).toBeUndefined();
      }),
    );
  });

  it('fits the largest v1 frame: an ack with a 64-byte id and a 200-byte detail is 278 bytes', () => {
    const frame: SerialFrame = {
      type: 'ack',
      commandId: 'c'.repeat(64),
      outcome: 'failed',
      robotTime: 2 ** 47,
      detail: '€'.repeat(66) + 'xy',
    };
    const bytes = encodeSerialFrame(frame);
    expect(cobsDecode(bytes.subarray(0, -1)).length).toBe(278);
    expect(decodeSerialFrame(bytes)).toStrictEqual(frame);
  });
});

describe('serial frame v1 layout', () => {
  /** Checks that `frame` goes on the wire as COBS(expected body + CRC LE) 00. */
  function expectBody(frame: SerialFrame, body: Uint8Array): void {
    const bytes = encodeSerialFrame(frame);
    const crc = crc16CcittFalse(body);
    expect(bytes.at(-1)).toBe(0);
    expect(cobsDecode(bytes.subarray(0, -1))).toEqual(
      concatBytes([body, Uint8Array.of(crc & 0xff, crc >> 8)]),
    );
  }

  it('writes a sample field by field, little-endian', () => {
    expectBody(
      SAMPLE,
      hex(`
        01 01
        04 03 02 01   0d 0c 0b 0a   ab 89 67 45 23 01
        40 38   fe ff ff ff   e8 03   70 fe   34 12
        ff ff ff ff   ff ff ff 7f   9f 8c   00 80
        ab   04   21 00 00 80`),
    );
  });

  it('writes events with their body type, lengths and presence bytes', () => {
    const head = hex('01 02  01 00 00 00  02 00 00 00  03 00 00 00 00 00');
    const event = { type: 'event', bootId: 1, seq: 2, robotTime: 3 } as const;
    expectBody(
      { ...event, body: { type: 'boot', firmwareVersion: 'v1.2', resetReason: 'watchdog' } },
      concatBytes([head, hex('01  04 76 31 2e 32  01')]),
    );
    expectBody(
      { ...event, body: { type: 'fault_raised', code: 0x0102, message: 'é' } },
      concatBytes([head, hex('02  02 01  01  02 c3 a9')]),
    );
    expectBody(
      { ...event, body: { type: 'fault_raised', code: 7 } },
      concatBytes([head, hex('02  07 00  00')]),
    );
    expectBody({ ...event, body: { type: 'fault_cleared', code: 7 } }, concatBytes([head, hex('03  07 00')]));
  });

  it('writes acks and commands with fixed fields first', () => {
    expectBody(
      { type: 'ack', commandId: 'k', outcome: 'failed', robotTime: 5, detail: 'é' },
      hex('01 03  05 00 00 00 00 00  03  01 6b  01  02 c3 a9'),
    );
    expectBody(
      { type: 'ack', commandId: 'k', outcome: 'accepted', robotTime: 5 },
      hex('01 03  05 00 00 00 00 00  00  01 6b  00'),
    );
    expectBody(
      {
        type: 'command',
        commandId: 'c-1',
        action: { type: 'go_to_zone', zoneId: 'z1' },
        deadlineRobotTime: 2 ** 32,
      },
      hex('01 04  00 00 00 00 01 00  03 63 2d 31  04  02 7a 31'),
    );
    expectBody(
      { type: 'command', commandId: 'c-1', action: { type: 'stop' }, deadlineRobotTime: 0 },
      hex('01 04  00 00 00 00 00 00  03 63 2d 31  02'),
    );
  });

  it('writes a resume with its presence byte, and the position only when there is one', () => {
    expectBody(
      { type: 'resume', position: { bootId: 0x01020304, nextSeq: 0x0a0b0c0d } },
      hex('01 05  01  04 03 02 01  0d 0c 0b 0a'),
    );
    expectBody({ type: 'resume' }, hex('01 05  00'));
    expectBody(
      { type: 'resume', position: { bootId: 0xffff_ffff, nextSeq: 0 } },
      hex('01 05  01  ff ff ff ff  00 00 00 00'),
    );
  });

  it('writes the leading delimiter only when asked', () => {
    const plain = encodeSerialFrame(SAMPLE);
    expect(encodeSerialFrame(SAMPLE, { leadingDelimiter: true })).toEqual(
      concatBytes([Uint8Array.of(0), plain]),
    );
  });
});

describe('serial frame v1 encoder checks', () => {
  const base = { kind: 'telemetry', robotId: 'r', siteId: 's', eventTime: 0 } as const;
  const { type: _type, robotTime: _robotTime, ...measured } = SAMPLE;
  const zodSample = (field: string, value: number): boolean =>
    telemetrySampleSchema.safeParse({
      ...base,
      ...measured,
      [field === 'robotTime' ? 'eventTime' : field]: value,
    }).success;
  const serialSample = (field: string, value: number): boolean => {
    try {
      encodeSerialFrame({ ...SAMPLE, [field]: value });
      return true;
    } catch (e) {
      if (!isProtocolError(e, ProtocolErrorCode.INVALID_MESSAGE)) throw e;
      expect(e.message).toContain(`${field} must be an integer in`);
      return false;
    }
  };
  const ranges: [keyof TelemetrySample | 'robotTime', number, number][] = [
    ['bootId', 0, 0xffff_ffff],
    ['seq', 0, 0xffff_ffff],
    ['robotTime', 0, 2 ** 47],
    ['voltageMv', 0, 0xffff],
    ['currentMa', -(2 ** 31), 2 ** 31 - 1],
    ['socPermille', 0, 1000],
    ['batteryTempDeciC', -32_768, 32_767],
    ['cycleCount', 0, 0xffff],
    ['xMm', -(2 ** 31), 2 ** 31 - 1],
    ['yMm', -(2 ** 31), 2 ** 31 - 1],
    ['headingCdeg', 0, 35_999],
    ['speedMmS', -32_768, 32_767],
    ['dirtLevel', 0, 255],
    ['errorFlags', 0, 0xffff_ffff],
  ];

  it.each(ranges)('accepts exactly the values telemetrySampleSchema accepts for %s', (field, min, max) => {
    for (const value of [min - 1, min, min + 0.5, max, max + 1]) {
      expect([field, value, serialSample(field, value)]).toEqual([field, value, zodSample(field, value)]);
    }
  });

  it('rejects, naming the field, every value the schema does not allow', () => {
    const cases: [string, () => unknown, RegExp][] = [
      [
        'mode',
        () => encodeSerialFrame({ ...SAMPLE, mode: 'flying' as never }),
        /sample frame: mode must be one of idle/,
      ],
      [
        'outcome timeout',
        () => encodeSerialFrame({ type: 'ack', commandId: 'c', outcome: 'timeout' as never, robotTime: 0 }),
        /ack frame: outcome must be one of accepted, completed, rejected, failed, got "timeout"/,
      ],
      [
        'command id',
        () =>
          encodeSerialFrame({
            type: 'command',
            commandId: 'a/b',
            action: { type: 'stop' },
            deadlineRobotTime: 0,
          }),
        /command frame: commandId must be an id matching/,
      ],
      [
        'zone id',
        () =>
          encodeSerialFrame({
            type: 'command',
            commandId: 'c',
            action: { type: 'go_to_zone', zoneId: 'z'.repeat(65) },
            deadlineRobotTime: 0,
          }),
        /action\.zoneId must be an id/,
      ],
      [
        'firmware version in bytes',
        () =>
          encodeSerialFrame({
            type: 'event',
            bootId: 0,
            seq: 0,
            robotTime: 0,
            body: { type: 'boot', firmwareVersion: 'é'.repeat(17), resetReason: 'unknown' },
          }),
        /body\.firmwareVersion must be 1\.\.32 bytes of UTF-8, not 34/,
      ],
      [
        'empty firmware version',
        () =>
          encodeSerialFrame({
            type: 'event',
            bootId: 0,
            seq: 0,
            robotTime: 0,
            body: { type: 'boot', firmwareVersion: '', resetReason: 'unknown' },
          }),
        /body\.firmwareVersion must be 1\.\.32 bytes/,
      ],
      [
        'lone surrogate',
        () =>
          encodeSerialFrame({
            type: 'ack',
            commandId: 'c',
            outcome: 'failed',
            robotTime: 0,
            detail: 'x\ud800',
          }),
        /ack frame: detail must be a string of well-formed Unicode/,
      ],
      [
        'detail too long',
        () =>
          encodeSerialFrame({
            type: 'ack',
            commandId: 'c',
            outcome: 'failed',
            robotTime: 0,
            detail: 'x'.repeat(201),
          }),
        /detail must be 0\.\.200 bytes of UTF-8, not 201/,
      ],
      [
        'fault message too long',
        () =>
          encodeSerialFrame({
            type: 'event',
            bootId: 0,
            seq: 0,
            robotTime: 0,
            body: { type: 'fault_raised', code: 1, message: '✓'.repeat(41) },
          }),
        /body\.message must be 0\.\.120 bytes of UTF-8, not 123/,
      ],
      [
        'fault code',
        () =>
          encodeSerialFrame({
            type: 'event',
            bootId: 0,
            seq: 0,
            robotTime: 0,
            body: { type: 'fault_cleared', code: 65_536 },
          }),
        /body\.code must be an integer in 0\.\.65535, got 65536/,
      ],
      [
        'unknown event body',
        () =>
          encodeSerialFrame({
            type: 'event',
            bootId: 0,
            seq: 0,
            robotTime: 0,
            body: { type: 'nap' } as never,
          }),
        /body\.type must be a known variant, got "nap"/,
      ],
      [
        'resume bootId',
        () => encodeSerialFrame({ type: 'resume', position: { bootId: 2 ** 32, nextSeq: 0 } }),
        /resume frame: position\.bootId must be an integer in 0\.\.4294967295, got 4294967296/,
      ],
      [
        'resume nextSeq',
        () => encodeSerialFrame({ type: 'resume', position: { bootId: 1, nextSeq: -1 } }),
        /resume frame: position\.nextSeq must be an integer in 0\.\.4294967295, got -1/,
      ],
      [
        'unknown frame type',
        () => encodeSerialFrame({ type: 'telemetry' } as never),
        /type must be a known variant, got "telemetry"/,
      ],
    ];
    for (const [name, fn, message] of cases) {
      const error = thrown(fn);
      expect([name, error.code]).toEqual([name, ProtocolErrorCode.INVALID_MESSAGE]);
      expect(error.message).toMatch(message);
    }
  });
});

describe('serial frame v1 decoder errors', () => {
  const sampleBody = bodyOf(SAMPLE);
  const eventBody = bodyOf({
    type: 'event',
    bootId: 1,
    seq: 2,
    robotTime: 3,
    body: { type: 'fault_raised', code: 9, message: 'ok' },
  });
  const bootBody = bodyOf({
    type: 'event',
    bootId: 1,
    seq: 2,
    robotTime: 3,
    body: { type: 'boot', firmwareVersion: 'v1', resetReason: 'brownout' },
  });
  const ackBody = bodyOf({ type: 'ack', commandId: 'cmd', outcome: 'completed', robotTime: 3, detail: 'ok' });
  const zoneBody = bodyOf({
    type: 'command',
    commandId: 'cmd',
    action: { type: 'go_to_zone', zoneId: 'zone' },
    deadlineRobotTime: 3,
  });

  it('BAD_FRAME: COBS that announces bytes that never came', () => {
    const error = thrown(() => decodeSerialFrame(hex('05 01 01 00')));
    expect(error.code).toBe(ProtocolErrorCode.BAD_FRAME);
    expect(error.message).toMatch(/COBS frame truncated/);
  });

  it('BAD_FRAME: a body shorter than version, type and CRC', () => {
    const error = thrown(() => decodeSerialFrame(hex('02 01 01 00')));
    expect(error.code).toBe(ProtocolErrorCode.BAD_FRAME);
    expect(error.message).toMatch(/frame of 2 byte\(s\) is shorter than the 4-byte minimum/);
  });

  it('BAD_FRAME: a payload cut short names the field that is missing', () => {
    const error = thrown(() => decodeSerialFrame(wire(sampleBody.subarray(0, -2))));
    expect(error.code).toBe(ProtocolErrorCode.BAD_FRAME);
    expect(error.message).toBe('serial sample frame truncated: errorFlags needs 4 byte(s), 2 left');
  });

  it('BAD_FRAME: bytes after the last field', () => {
    const error = thrown(() => decodeSerialFrame(wire(concatBytes([sampleBody, hex('00')]))));
    expect(error.code).toBe(ProtocolErrorCode.BAD_FRAME);
    expect(error.message).toBe('serial sample frame has 1 byte(s) after its last field');
  });

  it('BAD_FRAME: a resume with a position cut short, or bytes after one without', () => {
    expect(thrown(() => decodeSerialFrame(wire(hex('01 05  01  01 00 00 00  02 00')))).message).toBe(
      'serial resume frame truncated: position.nextSeq needs 4 byte(s), 2 left',
    );
    expect(thrown(() => decodeSerialFrame(wire(hex('01 05  00  07')))).message).toBe(
      'serial resume frame has 1 byte(s) after its last field',
    );
  });

  it('BAD_FRAME: more than one frame given to decodeSerialFrame', () => {
    const two = concatBytes([encodeSerialFrame(SAMPLE), encodeSerialFrame(SAMPLE)]);
    expect(thrown(() => decodeSerialFrame(two)).message).toMatch(/found a 00 delimiter inside it/);
  });

  it('BAD_CHECKSUM: gives the received and the computed CRC', () => {
    const crc = crc16CcittFalse(sampleBody);
    const error = thrown(() => decodeSerialFrame(wire(sampleBody, { crc: crc ^ 0x0100 })));
    expect(error.code).toBe(ProtocolErrorCode.BAD_CHECKSUM);
    const show = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;
    expect(error.message).toBe(
      `serial frame CRC-16 is ${show(crc ^ 0x0100)} but its 46 bytes give ${show(crc)}`,
    );
  });

  it('BAD_CHECKSUM, not UNKNOWN_VERSION, when noise hits the version byte', () => {
    const bytes = encodeSerialFrame(SAMPLE);
    bytes[1] = 0x02; // the first data byte after the COBS code byte is the version
    expect(thrown(() => decodeSerialFrame(bytes)).code).toBe(ProtocolErrorCode.BAD_CHECKSUM);
  });

  it('UNKNOWN_VERSION: names the version', () => {
    const error = thrown(() => decodeSerialFrame(wire(patch(sampleBody, 0, 1, 2))));
    expect(error.code).toBe(ProtocolErrorCode.UNKNOWN_VERSION);
    expect(error.message).toBe('serial frame version 2 is not supported (this code decodes version 1)');
    expect(error.details).toEqual({ version: 2 });
  });

  it('UNKNOWN_TYPE: names the type byte', () => {
    const error = thrown(() => decodeSerialFrame(wire(hex('01 7f 11 22'))));
    expect(error.code).toBe(ProtocolErrorCode.UNKNOWN_TYPE);
    expect(error.message).toMatch(/^serial v1 frame type 0x7f is unknown/);
    expect(error.message).toContain('0x05 resume');
    expect(error.details).toEqual({ version: 1, type: 0x7f });
    expect(thrown(() => decodeSerialFrame(wire(hex('01 00')))).message).toMatch(/type 0x00 is unknown/);
  });

  it('TOO_LARGE: a body past 512 bytes, while a 512-byte body passes the size check', () => {
    const at512 = concatBytes([hex('01 7f'), new Uint8Array(MAX_SERIAL_FRAME_SIZE - 4).fill(0x55)]);
    expect(thrown(() => decodeSerialFrame(wire(at512))).code).toBe(ProtocolErrorCode.UNKNOWN_TYPE);
    const error = thrown(() => decodeSerialFrame(wire(concatBytes([at512, hex('55')]))));
    expect(error.code).toBe(ProtocolErrorCode.TOO_LARGE);
    expect(error.message).toMatch(/exceeds 512 decoded bytes/);
  });

  it.each([
    [
      'sample socPermille',
      patch(sampleBody, 22, 2, 1001),
      'socPermille must be an integer in 0..1000, got 1001',
    ],
    [
      'sample headingCdeg',
      patch(sampleBody, 36, 2, 36_000),
      'headingCdeg must be an integer in 0..35999, got 36000',
    ],
    [
      'sample robotTime',
      patch(sampleBody, 10, 6, 2 ** 47 + 1),
      'robotTime must be an integer in 0..140737488355328',
    ],
    ['sample mode', patch(sampleBody, 41, 1, 6), 'mode must be a known code (0 idle, 1 cleaning'],
    [
      'event body type',
      patch(eventBody, 16, 1, 9),
      'body.type must be a known code (1 boot, 2 fault_raised, 3 fault_cleared), got 9',
    ],
    [
      'event reset reason',
      patch(bootBody, bootBody.length - 1, 1, 5),
      'body.resetReason must be a known code',
    ],
    [
      'event firmware version length',
      patch(bootBody, 17, 1, 0),
      'body.firmwareVersion must be 1..32 bytes of UTF-8, got "0 bytes"',
    ],
    [
      'event message presence',
      patch(eventBody, 19, 1, 2),
      'body.message presence must be 0 (absent) or 1 (present), got 2',
    ],
    ['event message UTF-8', patch(eventBody, 21, 2, 0x28c3), 'body.message must be valid UTF-8'],
    [
      'ack outcome',
      patch(ackBody, 8, 1, 4),
      'outcome must be a known code (0 accepted, 1 completed, 2 rejected, 3 failed), got 4',
    ],
    ['ack command id', patch(ackBody, 10, 1, 0x2f), 'commandId must be an id matching'],
    ['ack command id length', patch(ackBody, 9, 1, 0), 'commandId must be 1..64 bytes long, got "0 bytes"'],
    [
      'ack detail length',
      concatBytes([patch(ackBody, 14, 1, 201), new Uint8Array(199).fill(0x61)]),
      'detail must be 0..200 bytes of UTF-8',
    ],
    ['command action type', patch(zoneBody, 12, 1, 5), 'action.type must be a known code (1 start_cleaning'],
    [
      'resume hasPosition',
      hex('01 05  02  01 00 00 00  02 00 00 00'),
      'resume frame: hasPosition must be 0 (no position) or 1, got 2',
    ],
    ['command zone id', patch(zoneBody, 14, 1, 0x20), 'action.zoneId must be an id matching'],
  ])('INVALID_MESSAGE: %s is named', (_, body, message) => {
    const error = thrown(() => decodeSerialFrame(wire(body)));
    expect(error.code).toBe(ProtocolErrorCode.INVALID_MESSAGE);
    expect(error.message).toContain(message);
  });
});
