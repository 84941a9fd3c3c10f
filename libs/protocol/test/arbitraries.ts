/**
 * fast-check arbitraries producing VALID values of every message kind, across the full ranges of
 * messages.ts (fast-check biases integers towards their bounds, so min and max come up often).
 */
import fc from 'fast-check';
import {
  ACK_OUTCOMES,
  ACK_SOURCES,
  ID_PATTERN,
  MAX_EPOCH_MS,
  MAX_ID_LENGTH,
  PRESENCE_REASONS,
  RESET_REASONS,
  ROBOT_MODES,
  type Command,
  type CommandAck,
  type CommandAction,
  type Message,
  type MessageKind,
  type Presence,
  type RobotEvent,
  type RobotEventBody,
  type RobotMetadata,
  type TelemetrySample,
  type TimeSyncRequest,
  type TimeSyncResponse,
  type Zone,
} from '../src/index.js';

const U8 = 0xff;
const U16 = 0xffff;
const U32 = 0xffff_ffff;
const I16_MIN = -0x8000;
const I16_MAX = 0x7fff;
const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;

export const u8 = fc.integer({ min: 0, max: U8 });
export const u16 = fc.integer({ min: 0, max: U16 });
export const u32 = fc.integer({ min: 0, max: U32 });
export const i16 = fc.integer({ min: I16_MIN, max: I16_MAX });
export const i32 = fc.integer({ min: I32_MIN, max: I32_MAX });
export const epochMs = fc.integer({ min: 0, max: MAX_EPOCH_MS });

/** Ids of every length 1..64, including the longest. */
export const id: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(ID_PATTERN) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{63}$/) },
);

/**
 * Text of at most `max` UTF-16 units (what zod's `.max` counts): ASCII, any code point (including
 * astral ones, 2 units each) and control characters (escaped in JSON).
 */
export function text(min: number, max: number): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.string({ minLength: min, maxLength: max }),
      fc.string({ unit: 'binary', minLength: min, maxLength: max }),
      fc.string({
        unit: fc.constantFrom('\u0000', '\n', '"', '\\', 'é', '€', '😀'),
        minLength: min,
        maxLength: max,
      }),
    )
    .filter((s) => s.length >= min && s.length <= max);
}

export interface SampleScope {
  readonly robotId?: fc.Arbitrary<string>;
  readonly bootId?: fc.Arbitrary<number>;
  readonly siteId?: fc.Arbitrary<string>;
  readonly eventTime?: fc.Arbitrary<number>;
}

export function telemetrySample(scope: SampleScope = {}): fc.Arbitrary<TelemetrySample> {
  return fc.record({
    kind: fc.constant('telemetry' as const),
    robotId: scope.robotId ?? id,
    bootId: scope.bootId ?? u32,
    seq: u32,
    eventTime: scope.eventTime ?? epochMs,
    voltageMv: u16,
    currentMa: i32,
    socPermille: fc.integer({ min: 0, max: 1000 }),
    batteryTempDeciC: i16,
    cycleCount: u16,
    siteId: scope.siteId ?? id,
    xMm: i32,
    yMm: i32,
    headingCdeg: fc.integer({ min: 0, max: 35999 }),
    speedMmS: i16,
    dirtLevel: u8,
    mode: fc.constantFrom(...ROBOT_MODES),
    errorFlags: u32,
  });
}

/**
 * Samples of one robot, boot and site whose event times lie within an i32 of ms of the first
 * sample's, i.e. exactly what one batch record can hold.
 */
export function batchSamples(maxLength = 40): fc.Arbitrary<TelemetrySample[]> {
  return fc.tuple(id, u32, id, epochMs).chain(([robotId, bootId, siteId, base]) =>
    fc
      .array(
        fc.tuple(
          telemetrySample({
            robotId: fc.constant(robotId),
            bootId: fc.constant(bootId),
            siteId: fc.constant(siteId),
          }),
          i32,
        ),
        {
          minLength: 1,
          maxLength,
        },
      )
      .map((rows) =>
        rows.map(([s, offset], i) => ({
          ...s,
          eventTime: i === 0 ? base : Math.min(MAX_EPOCH_MS, Math.max(0, base + offset)),
        })),
      ),
  );
}

export const commandAction: fc.Arbitrary<CommandAction> = fc.oneof(
  fc.constant({ type: 'start_cleaning' as const }),
  fc.constant({ type: 'stop' as const }),
  fc.constant({ type: 'go_to_dock' as const }),
  fc.record({ type: fc.constant('go_to_zone' as const), zoneId: id }),
);

export const command: fc.Arbitrary<Command> = fc
  .record({ commandId: id, robotId: id, action: commandAction, issuedAt: epochMs, validFor: epochMs })
  .map(({ validFor, issuedAt, ...rest }) => ({
    kind: 'command' as const,
    ...rest,
    issuedAt,
    deadline: Math.min(MAX_EPOCH_MS, issuedAt + validFor),
  }));

export const commandAck: fc.Arbitrary<CommandAck> = fc.record(
  {
    kind: fc.constant('command_ack' as const),
    commandId: id,
    robotId: id,
    outcome: fc.constantFrom(...ACK_OUTCOMES),
    source: fc.constantFrom(...ACK_SOURCES),
    robotTime: epochMs,
    detail: text(0, 200),
  },
  { requiredKeys: ['kind', 'commandId', 'robotId', 'outcome', 'source', 'robotTime'] },
);

export const robotEventBody: fc.Arbitrary<RobotEventBody> = fc.oneof(
  fc.record({
    type: fc.constant('boot' as const),
    firmwareVersion: text(1, 32),
    resetReason: fc.constantFrom(...RESET_REASONS),
  }),
  fc.record(
    { type: fc.constant('fault_raised' as const), code: u16, message: text(0, 120) },
    { requiredKeys: ['type', 'code'] },
  ),
  fc.record({ type: fc.constant('fault_cleared' as const), code: u16 }),
);

export const robotEvent: fc.Arbitrary<RobotEvent> = fc.record({
  kind: fc.constant('robot_event' as const),
  robotId: id,
  bootId: u32,
  seq: u32,
  eventTime: epochMs,
  event: robotEventBody,
});

export const presence: fc.Arbitrary<Presence> = fc.record({
  kind: fc.constant('presence' as const),
  robotId: id,
  online: fc.boolean(),
  reason: fc.constantFrom(...PRESENCE_REASONS),
  at: epochMs,
});

/** Two distinct i32 values, ordered, so the zone has positive area. */
const i32Span = fc
  .tuple(i32, i32)
  .filter(([a, b]) => a !== b)
  .map(([a, b]): readonly [number, number] => (a < b ? [a, b] : [b, a]));

export const zone: fc.Arbitrary<Zone> = fc
  .record({ zoneId: id, name: text(1, 64), x: i32Span, y: i32Span })
  .map(({ x, y, ...rest }) => ({ ...rest, minXMm: x[0], minYMm: y[0], maxXMm: x[1], maxYMm: y[1] }));

export function robotMetadata(maxZones = 6): fc.Arbitrary<RobotMetadata> {
  return fc.record({
    kind: fc.constant('robot_metadata' as const),
    robotId: id,
    model: text(1, 64),
    siteId: id,
    zones: fc.array(zone, { maxLength: maxZones }),
    nominalCapacityMah: fc.integer({ min: 1, max: U32 }),
    updatedAt: epochMs,
  });
}

export const timeSyncRequest: fc.Arbitrary<TimeSyncRequest> = fc.record({
  kind: fc.constant('time_sync_request' as const),
  robotId: id,
  requestId: u32,
  agentSendTime: epochMs,
});

export const timeSyncResponse: fc.Arbitrary<TimeSyncResponse> = fc.record({
  kind: fc.constant('time_sync_response' as const),
  robotId: id,
  requestId: u32,
  agentSendTime: epochMs,
  gatewayReceiveTime: epochMs,
  gatewaySendTime: epochMs,
});

/** One arbitrary per kind; the mapped type fails to compile when a kind is added without one. */
export const messageByKind: { readonly [K in MessageKind]: fc.Arbitrary<Extract<Message, { kind: K }>> } = {
  telemetry: telemetrySample(),
  command,
  command_ack: commandAck,
  robot_event: robotEvent,
  presence,
  robot_metadata: robotMetadata(),
  time_sync_request: timeSyncRequest,
  time_sync_response: timeSyncResponse,
};

export const message: fc.Arbitrary<Message> = fc.oneof(...Object.values(messageByKind));

export const LONGEST_ID = 'R'.repeat(MAX_ID_LENGTH);
