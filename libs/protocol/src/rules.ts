/**
 * The value rules of every message (ranges, id pattern, enumerations, text lengths), without zod.
 *
 * Both the zod schemas (messages.ts, for JSON and API input) and the binary codecs' hand-written
 * checks (binary/checks.ts) are written from these constants; a property test
 * (test/checks.test.ts) proves the two accept and reject exactly the same values. Modules on the
 * robot's path (binary codecs, batch, serial, topics) import from here, so loading them never
 * builds a zod schema.
 */

export const U8 = 0xff;
export const U16 = 0xffff;
export const U32 = 0xffff_ffff;
export const I16_MIN = -0x8000;
export const I16_MAX = 0x7fff;
export const I32_MIN = -0x8000_0000;
export const I32_MAX = 0x7fff_ffff;

/** Robot and site ids appear in MQTT topics, so they exclude `/`, `+`, `#` and whitespace. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const MAX_ID_LENGTH = 64;
/** What an id that breaks ID_PATTERN is told (after "robot id", "site id", ...). */
export const ID_RULE = 'must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}';
/** Milliseconds since the Unix epoch; 2^47 ms is the year 6429, far beyond any robot clock. */
export const MAX_EPOCH_MS = 2 ** 47;

/** Telemetry ranges that are not a plain integer width. */
export const MAX_SOC_PERMILLE = 1000;
export const MAX_HEADING_CDEG = 35999;

/** Text lengths, in UTF-16 code units (what zod's `.min`/`.max` count). */
export const MAX_ACK_DETAIL_LENGTH = 200;
export const MAX_FIRMWARE_VERSION_LENGTH = 32;
export const MAX_FAULT_MESSAGE_LENGTH = 120;
export const MAX_MODEL_LENGTH = 64;
export const MAX_ZONE_NAME_LENGTH = 64;
export const MAX_ZONES = 256;

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

export const COMMAND_ACTION_TYPES = ['start_cleaning', 'stop', 'go_to_dock', 'go_to_zone'] as const;
export const ACK_OUTCOMES = ['accepted', 'completed', 'rejected', 'failed', 'timeout'] as const;
export type AckOutcome = (typeof ACK_OUTCOMES)[number];
export const ACK_SOURCES = ['firmware', 'agent'] as const;
export const ROBOT_EVENT_TYPES = ['boot', 'fault_raised', 'fault_cleared'] as const;
export const RESET_REASONS = ['power_on', 'watchdog', 'brownout', 'software', 'unknown'] as const;
export const PRESENCE_REASONS = ['connected', 'disconnected', 'last_will'] as const;
export const MESSAGE_KINDS = [
  'telemetry',
  'command',
  'command_ack',
  'robot_event',
  'presence',
  'robot_metadata',
  'time_sync_request',
  'time_sync_response',
] as const;
