/**
 * Every message the platform carries, as discriminated unions on `kind`, with runtime validation.
 *
 * Units are integers with the unit in the field name (mV, mA, per mille, 0.1 °C, mm, 0.01°), so the
 * binary codecs round-trip values exactly and nothing downstream guesses a unit.
 * Times are integer milliseconds since the Unix epoch, in the robot's corrected event time unless
 * the name says otherwise.
 *
 * The schemas validate JSON payloads (debugging, API input); the binary codecs check the same ranges
 * themselves on their hot path. `parseMessage` is the one entry point for untrusted JSON.
 */
import { z } from 'zod';

const U8 = 0xff;
const U16 = 0xffff;
const U32 = 0xffff_ffff;
const I16 = 0x7fff;
const I32 = 0x7fff_ffff;

const intIn = (min: number, max: number) => z.int().min(min).max(max);

/** Robot and site ids appear in MQTT topics, so they exclude `/`, `+`, `#` and whitespace. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const MAX_ID_LENGTH = 64;
export const robotIdSchema = z
  .string()
  .regex(ID_PATTERN, 'robot id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}');
export const siteIdSchema = z
  .string()
  .regex(ID_PATTERN, 'site id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}');
export const zoneIdSchema = z
  .string()
  .regex(ID_PATTERN, 'zone id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}');
export const commandIdSchema = z
  .string()
  .regex(ID_PATTERN, 'command id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}');
/** Milliseconds since the Unix epoch; 2^47 ms is the year 6429, far beyond any robot clock. */
export const MAX_EPOCH_MS = 2 ** 47;
export const epochMsSchema = intIn(0, MAX_EPOCH_MS);
/** A boot id is chosen by the firmware at each boot (random or a persisted counter), u32. */
export const bootIdSchema = intIn(0, U32);
/** Per-boot sequence number shared by samples and events, u32, starting at 0 at each boot. */
export const seqSchema = intIn(0, U32);

export const ROBOT_MODES = ['idle', 'cleaning', 'moving', 'docking', 'charging', 'error'] as const;
export type RobotMode = (typeof ROBOT_MODES)[number];

/** Error flag bits carried in `TelemetrySample.errorFlags` (u32 bitset). */
export const ErrorFlag = {
  bumperStuck: 1 << 0,
  wheelStall: 1 << 1,
  brushStall: 1 << 2,
  cliffSensor: 1 << 3,
  overheat: 1 << 4,
  lowBattery: 1 << 5,
  sensorStuck: 1 << 6,
  dustbinFull: 1 << 7,
} as const;

export const telemetrySampleSchema = z.strictObject({
  kind: z.literal('telemetry'),
  robotId: robotIdSchema,
  bootId: bootIdSchema,
  seq: seqSchema,
  eventTime: epochMsSchema,
  /** Battery terminal voltage, mV. */
  voltageMv: intIn(0, U16),
  /** Battery current, mA; positive discharges, negative charges. */
  currentMa: intIn(-I32 - 1, I32),
  /** State of charge, 0..1000 per mille. */
  socPermille: intIn(0, 1000),
  /** Battery temperature, 0.1 °C. */
  batteryTempDeciC: intIn(-I16 - 1, I16),
  /** Full charge cycles counted by the battery management system. */
  cycleCount: intIn(0, U16),
  siteId: siteIdSchema,
  /** Position on the site map, mm from the map origin. */
  xMm: intIn(-I32 - 1, I32),
  yMm: intIn(-I32 - 1, I32),
  /** Heading, 0.01 degree, 0 = +x axis, counter-clockwise. */
  headingCdeg: intIn(0, 35999),
  /** Ground speed, mm/s (negative when reversing). */
  speedMmS: intIn(-I16 - 1, I16),
  /** Dirt sensor reading under the robot, 0 (clean) .. 255. */
  dirtLevel: intIn(0, U8),
  mode: z.enum(ROBOT_MODES),
  /** Bitset of `ErrorFlag`. */
  errorFlags: intIn(0, U32),
});
export type TelemetrySample = z.infer<typeof telemetrySampleSchema>;

export const commandActionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('start_cleaning') }),
  z.strictObject({ type: z.literal('stop') }),
  z.strictObject({ type: z.literal('go_to_dock') }),
  z.strictObject({ type: z.literal('go_to_zone'), zoneId: zoneIdSchema }),
]);
export type CommandAction = z.infer<typeof commandActionSchema>;
export const COMMAND_ACTION_TYPES = ['start_cleaning', 'stop', 'go_to_dock', 'go_to_zone'] as const;

export const commandSchema = z
  .strictObject({
    kind: z.literal('command'),
    commandId: commandIdSchema,
    robotId: robotIdSchema,
    action: commandActionSchema,
    /** When the operator issued it (cloud clock). */
    issuedAt: epochMsSchema,
    /** After this instant (cloud clock) the command must not be executed. */
    deadline: epochMsSchema,
  })
  .refine((c) => c.deadline >= c.issuedAt, {
    message: 'deadline must not be before issuedAt',
    path: ['deadline'],
  });
export type Command = z.infer<typeof commandSchema>;

export const ACK_OUTCOMES = ['accepted', 'completed', 'rejected', 'failed', 'timeout'] as const;
export type AckOutcome = (typeof ACK_OUTCOMES)[number];
export const ACK_SOURCES = ['firmware', 'agent'] as const;

export const commandAckSchema = z.strictObject({
  kind: z.literal('command_ack'),
  commandId: commandIdSchema,
  robotId: robotIdSchema,
  outcome: z.enum(ACK_OUTCOMES),
  /** `agent` when the agent answers for a firmware that never did (outcome `timeout`). */
  source: z.enum(ACK_SOURCES),
  /** Event time of the ack (robot clock, corrected by the agent). */
  robotTime: epochMsSchema,
  detail: z.string().max(200).optional(),
});
export type CommandAck = z.infer<typeof commandAckSchema>;

export const RESET_REASONS = ['power_on', 'watchdog', 'brownout', 'software', 'unknown'] as const;

export const robotEventBodySchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('boot'),
    firmwareVersion: z.string().min(1).max(32),
    resetReason: z.enum(RESET_REASONS),
  }),
  z.strictObject({
    type: z.literal('fault_raised'),
    code: intIn(0, U16),
    message: z.string().max(120).optional(),
  }),
  z.strictObject({ type: z.literal('fault_cleared'), code: intIn(0, U16) }),
]);
export type RobotEventBody = z.infer<typeof robotEventBodySchema>;

/** Something the firmware reports once (not sampled): it shares the per-boot `seq` with samples. */
export const robotEventSchema = z.strictObject({
  kind: z.literal('robot_event'),
  robotId: robotIdSchema,
  bootId: bootIdSchema,
  seq: seqSchema,
  eventTime: epochMsSchema,
  event: robotEventBodySchema,
});
export type RobotEvent = z.infer<typeof robotEventSchema>;

export const PRESENCE_REASONS = ['connected', 'disconnected', 'last_will'] as const;

/**
 * Whether a robot's agent is connected. The agent publishes `online` (retained) on connect and
 * leaves `last_will` with the broker; the gateway turns connects and disconnects into these too.
 */
export const presenceSchema = z.strictObject({
  kind: z.literal('presence'),
  robotId: robotIdSchema,
  online: z.boolean(),
  reason: z.enum(PRESENCE_REASONS),
  /** Cloud clock when the presence changed (the gateway's receive time for a last will). */
  at: epochMsSchema,
});
export type Presence = z.infer<typeof presenceSchema>;

export const zoneSchema = z
  .strictObject({
    zoneId: zoneIdSchema,
    name: z.string().min(1).max(64),
    minXMm: intIn(-I32 - 1, I32),
    minYMm: intIn(-I32 - 1, I32),
    maxXMm: intIn(-I32 - 1, I32),
    maxYMm: intIn(-I32 - 1, I32),
  })
  .refine((z) => z.maxXMm > z.minXMm && z.maxYMm > z.minYMm, { message: 'zone must have positive area' });
export type Zone = z.infer<typeof zoneSchema>;

/** Slowly changing facts about a robot; a compacted topic keyed by robot id, broadcast to all. */
export const robotMetadataSchema = z.strictObject({
  kind: z.literal('robot_metadata'),
  robotId: robotIdSchema,
  model: z.string().min(1).max(64),
  siteId: siteIdSchema,
  zones: z.array(zoneSchema).max(256),
  nominalCapacityMah: intIn(1, U32),
  updatedAt: epochMsSchema,
});
export type RobotMetadata = z.infer<typeof robotMetadataSchema>;

/**
 * NTP-style exchange between agent and gateway. The agent sends t0 (its clock); the gateway answers
 * with t1 (receive) and t2 (send) on its clock; the agent notes t3 on arrival and estimates
 * offset = ((t1 - t0) + (t2 - t3)) / 2, delay = (t3 - t0) - (t2 - t1).
 */
export const timeSyncRequestSchema = z.strictObject({
  kind: z.literal('time_sync_request'),
  robotId: robotIdSchema,
  requestId: intIn(0, U32),
  agentSendTime: epochMsSchema,
});
export type TimeSyncRequest = z.infer<typeof timeSyncRequestSchema>;

export const timeSyncResponseSchema = z.strictObject({
  kind: z.literal('time_sync_response'),
  robotId: robotIdSchema,
  requestId: intIn(0, U32),
  agentSendTime: epochMsSchema,
  gatewayReceiveTime: epochMsSchema,
  gatewaySendTime: epochMsSchema,
});
export type TimeSyncResponse = z.infer<typeof timeSyncResponseSchema>;

export const messageSchema = z.discriminatedUnion('kind', [
  telemetrySampleSchema,
  commandSchema,
  commandAckSchema,
  robotEventSchema,
  presenceSchema,
  robotMetadataSchema,
  timeSyncRequestSchema,
  timeSyncResponseSchema,
]);
export type Message = z.infer<typeof messageSchema>;
export type MessageKind = Message['kind'];
