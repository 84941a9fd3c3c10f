/**
 * Serial frame schema version 1: the frames the robot's microcontroller and the agent exchange over
 * the UART. A later version gets its own file (frame-v2.ts) and this one stays, so that a robot still
 * running v1 firmware keeps talking to a newer agent; test/fixtures/serial/v1 pins its bytes.
 *
 * Every code below (frame types, modes, reasons, outcomes, actions) is a wire value fixed by this
 * version, written out here rather than derived from the order of the arrays in messages.ts, so that
 * reordering those arrays can never change what a byte means.
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import type { AckOutcome, CommandAction, RobotEventBody, RobotMode, TelemetrySample } from '../messages.js';
import { ID_PATTERN, MAX_EPOCH_MS } from '../rules.js';
import { ByteReader, utf8Length, type ByteWriter } from './bytes.js';

export const SERIAL_FRAME_VERSION_1 = 0x01;

/** The fields a sample carries over the wire: what the firmware measures, in the units of TelemetrySample. */
type MeasuredFields = Omit<TelemetrySample, 'kind' | 'robotId' | 'siteId' | 'eventTime'>;

/**
 * A periodic measurement (firmware → agent). No robotId or siteId (the agent knows them) and no
 * eventTime: the agent turns `robotTime` into corrected event time.
 */
export interface SerialSampleFrame extends MeasuredFields {
  type: 'sample';
  /** The robot's own clock, ms since the Unix epoch, uncorrected. */
  robotTime: number;
}

/** Something the firmware reports once (firmware → agent); shares the per-boot `seq` with samples. */
export interface SerialEventFrame {
  type: 'event';
  bootId: number;
  seq: number;
  robotTime: number;
  body: RobotEventBody;
}

/** Outcomes the firmware reports; `timeout` is the agent's own verdict and never on the wire. */
export type FirmwareAckOutcome = Exclude<AckOutcome, 'timeout'>;

/** The firmware's answer to a command (firmware → agent). */
export interface SerialAckFrame {
  type: 'ack';
  commandId: string;
  outcome: FirmwareAckOutcome;
  robotTime: number;
  /** At most 200 bytes of UTF-8. */
  detail?: string;
}

/** An operator's command (agent → firmware). */
export interface SerialCommandFrame {
  type: 'command';
  commandId: string;
  action: CommandAction;
  /** The cloud deadline translated by the agent to the robot's clock, ms. */
  deadlineRobotTime: number;
}

/** Where the agent's record of a boot ends: the next frame of boot `bootId` it wants is `nextSeq`. */
export interface SerialResumePosition {
  readonly bootId: number;
  readonly nextSeq: number;
}

/**
 * Sent by the agent every time it opens the line (agent → firmware): "send me again what I missed".
 * With a `position`: every frame of that boot from `nextSeq` on, when that boot is still the current
 * one; otherwise (the robot rebooted since), and without a position (the agent knows nothing), every
 * frame of the current boot the firmware still holds, oldest first. Replayed frames are byte-identical
 * to the originals (same seq, same robotTime); frames the firmware no longer holds are gone, which the
 * agent sees as a seq gap.
 */
export interface SerialResumeFrame {
  type: 'resume';
  position?: SerialResumePosition;
}

export type SerialFrameV1 =
  SerialSampleFrame | SerialEventFrame | SerialAckFrame | SerialCommandFrame | SerialResumeFrame;
export type SerialFrameType = SerialFrameV1['type'];

// Wire codes. Codes that choose a layout (frame type, event body, action) start at 1 so that an
// all-zero payload never looks like a valid variant; plain enumerations start at 0.
const TYPE_CODE = {
  sample: 0x01,
  event: 0x02,
  ack: 0x03,
  command: 0x04,
  resume: 0x05,
} as const satisfies Record<SerialFrameType, number>;
const MODE_CODE = {
  idle: 0,
  cleaning: 1,
  moving: 2,
  docking: 3,
  charging: 4,
  error: 5,
} as const satisfies Record<RobotMode, number>;
const BODY_CODE = { boot: 1, fault_raised: 2, fault_cleared: 3 } as const satisfies Record<
  RobotEventBody['type'],
  number
>;
const RESET_CODE = {
  power_on: 0,
  watchdog: 1,
  brownout: 2,
  software: 3,
  unknown: 4,
} as const satisfies Record<Extract<RobotEventBody, { type: 'boot' }>['resetReason'], number>;
const OUTCOME_CODE = { accepted: 0, completed: 1, rejected: 2, failed: 3 } as const satisfies Record<
  FirmwareAckOutcome,
  number
>;
const ACTION_CODE = { start_cleaning: 1, stop: 2, go_to_dock: 3, go_to_zone: 4 } as const satisfies Record<
  CommandAction['type'],
  number
>;
const MODE_BY_CODE = invert(MODE_CODE);
const RESET_BY_CODE = invert(RESET_CODE);
const OUTCOME_BY_CODE = invert(OUTCOME_CODE);

// Ranges of messages.ts (test/serial-frame.test.ts checks them against the zod schemas).
const U8 = 0xff;
const U16 = 0xffff;
const U32 = 0xffff_ffff;
const I16_MIN = -0x8000;
const I16_MAX = 0x7fff;
const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;
const SOC_MAX = 1000;
const HEADING_MAX = 35_999;
const ID_MAX_BYTES = 64;
const FIRMWARE_VERSION_MAX_BYTES = 32;
const FAULT_MESSAGE_MAX_BYTES = 120;
const ACK_DETAIL_MAX_BYTES = 200;

/**
 * Writes `frame` as a v1 body: version, type and payload. The envelope (frame.ts) appends the CRC and
 * COBS-encodes the result. The whole frame, byte by byte; integers little-endian:
 *
 *   on the wire    [00] COBS(body) 00        optional leading 00 flushes line noise; the 00 after
 *                                            the frame ends it (COBS output never contains 00)
 *   body, 4..512 bytes before COBS:
 *     0     1  version          0x01
 *     1     1  type             0x01 sample | 0x02 event | 0x03 ack | 0x04 command | 0x05 resume
 *     2     n  payload          per type, below
 *     2+n   2  crc              CRC-16/CCITT-FALSE of body[0, 2+n), low byte first
 *
 *   Text fields are a length byte then that many bytes; ids are ASCII matching ID_PATTERN (1..64),
 *   other text is UTF-8 with its limit counted in bytes (the firmware's buffers are bytes), which is
 *   never looser than the schema's limit in characters: a decoded text always satisfies the schema,
 *   while a non-ASCII text the schema allows may be refused by the encoder, naming the field.
 *   An optional text is a presence byte (0 absent, 1 present) followed, when present, by the text.
 *   Ranges narrower than the field's width are checked on encode and on decode.
 *
 *   sample, firmware → agent, n = 44 (body 48):
 *     0     4  bootId           u32
 *     4     4  seq              u32, per boot, shared with events
 *     8     6  robotTime        u48 ms since epoch, robot clock, 0..2^47
 *     14    2  voltageMv        u16
 *     16    4  currentMa        i32, positive discharges
 *     20    2  socPermille      u16, 0..1000
 *     22    2  batteryTempDeciC i16
 *     24    2  cycleCount       u16
 *     26    4  xMm              i32
 *     30    4  yMm              i32
 *     34    2  headingCdeg      u16, 0..35999
 *     36    2  speedMmS         i16
 *     38    1  dirtLevel        u8
 *     39    1  mode             u8: 0 idle | 1 cleaning | 2 moving | 3 docking | 4 charging | 5 error
 *     40    4  errorFlags       u32 bitset of ErrorFlag
 *
 *   event, firmware → agent, n = 15 + body (bytes 0..13 are laid out as in a sample):
 *     0     4  bootId           u32
 *     4     4  seq              u32
 *     8     6  robotTime        u48
 *     14    1  body type        0x01 boot | 0x02 fault_raised | 0x03 fault_cleared
 *     boot:          15 1 len 1..32 | 16 len firmwareVersion UTF-8 |
 *                    16+len 1 resetReason: 0 power_on | 1 watchdog | 2 brownout | 3 software | 4 unknown
 *     fault_raised:  15 2 code u16 | 17 1 message presence |
 *                    [18 1 len 0..120 | 19 len message UTF-8]
 *     fault_cleared: 15 2 code u16
 *
 *   ack, firmware → agent, n = 9 + id + [1 + detail], at most 274 (body 278, the largest v1 body):
 *     0     6  robotTime        u48
 *     6     1  outcome          0 accepted | 1 completed | 2 rejected | 3 failed
 *     7     1  len              1..64
 *     8     len commandId       ASCII
 *     8+len 1  detail presence
 *     9+len 1  dlen             0..200, when present
 *     10+len dlen detail        UTF-8
 *
 *   command, agent → firmware, n = 8 + id [+ 1 + zone id], at most 137:
 *     0     6  deadlineRobotTime u48, robot clock
 *     6     1  len              1..64
 *     7     len commandId       ASCII
 *     7+len 1  action           1 start_cleaning | 2 stop | 3 go_to_dock | 4 go_to_zone
 *     go_to_zone: 8+len 1 zlen 1..64 | 9+len zlen zoneId ASCII
 *
 *   resume, agent → firmware, n = 1 or 9 (body 5 or 13); added to v1 later, additively (type 0x05):
 *     0     1  hasPosition      0 (no position) | 1
 *     1     4  bootId           u32, only when hasPosition = 1
 *     5     4  nextSeq          u32, only when hasPosition = 1: the first seq of bootId wanted again
 *     With 1: "send me every frame of boot bootId from nextSeq on" (every frame of the current boot
 *     the firmware still holds, oldest first, when bootId is not the current boot); with 0: "I have
 *     nothing: send whatever you still hold of the current boot, oldest first". The agent sends it
 *     each time it opens the line. Firmware that predates 0x05 decodes it as UNKNOWN_TYPE, counts
 *     and skips it like any corrupt frame and carries on: the agent then simply gets no replay.
 *
 * Throws INVALID_MESSAGE, naming the field, for any value the schema does not allow.
 */
export function encodeFrameV1(frame: SerialFrameV1, w: ByteWriter): void {
  w.u8(SERIAL_FRAME_VERSION_1);
  switch (frame.type) {
    case 'sample':
      w.u8(TYPE_CODE.sample);
      return writeSample(w, frame);
    case 'event':
      w.u8(TYPE_CODE.event);
      return writeEvent(w, frame);
    case 'ack':
      w.u8(TYPE_CODE.ack);
      return writeAck(w, frame);
    case 'command':
      w.u8(TYPE_CODE.command);
      return writeCommand(w, frame);
    case 'resume':
      w.u8(TYPE_CODE.resume);
      return writeResume(w, frame);
    default:
      return unknownVariant('v1', 'type', frame);
  }
}

/**
 * Decodes the payload of a v1 body whose CRC and version the envelope has checked: the type byte is
 * `body[1]` and the payload `body[2, payloadEnd)`; `view` is a DataView over `body`.
 */
export function decodeFrameV1(body: Uint8Array, view: DataView, payloadEnd: number): SerialFrameV1 {
  const type = body[1]!;
  switch (type) {
    case TYPE_CODE.sample:
      return readSample(new ByteReader(body, view, 2, payloadEnd, 'sample'));
    case TYPE_CODE.event:
      return readEvent(new ByteReader(body, view, 2, payloadEnd, 'event'));
    case TYPE_CODE.ack:
      return readAck(new ByteReader(body, view, 2, payloadEnd, 'ack'));
    case TYPE_CODE.command:
      return readCommand(new ByteReader(body, view, 2, payloadEnd, 'command'));
    case TYPE_CODE.resume:
      return readResume(new ByteReader(body, view, 2, payloadEnd, 'resume'));
    default:
      throw new ProtocolError(
        ProtocolErrorCode.UNKNOWN_TYPE,
        `serial v1 frame type 0x${hex(type)} is unknown (known: 0x01 sample, 0x02 event, 0x03 ack, 0x04 command, 0x05 resume)`,
        { version: SERIAL_FRAME_VERSION_1, type },
      );
  }
}

function writeSample(w: ByteWriter, f: SerialSampleFrame): void {
  const t = 'sample';
  w.u32(int(t, 'bootId', f.bootId, 0, U32));
  w.u32(int(t, 'seq', f.seq, 0, U32));
  w.u48(int(t, 'robotTime', f.robotTime, 0, MAX_EPOCH_MS));
  w.u16(int(t, 'voltageMv', f.voltageMv, 0, U16));
  w.i32(int(t, 'currentMa', f.currentMa, I32_MIN, I32_MAX));
  w.u16(int(t, 'socPermille', f.socPermille, 0, SOC_MAX));
  w.i16(int(t, 'batteryTempDeciC', f.batteryTempDeciC, I16_MIN, I16_MAX));
  w.u16(int(t, 'cycleCount', f.cycleCount, 0, U16));
  w.i32(int(t, 'xMm', f.xMm, I32_MIN, I32_MAX));
  w.i32(int(t, 'yMm', f.yMm, I32_MIN, I32_MAX));
  w.u16(int(t, 'headingCdeg', f.headingCdeg, 0, HEADING_MAX));
  w.i16(int(t, 'speedMmS', f.speedMmS, I16_MIN, I16_MAX));
  w.u8(int(t, 'dirtLevel', f.dirtLevel, 0, U8));
  w.u8(toCode(t, 'mode', MODE_CODE, f.mode));
  w.u32(int(t, 'errorFlags', f.errorFlags, 0, U32));
}

function readSample(r: ByteReader): SerialSampleFrame {
  const t = 'sample';
  const frame: SerialSampleFrame = {
    type: 'sample',
    bootId: r.u32('bootId'),
    seq: r.u32('seq'),
    robotTime: int(t, 'robotTime', r.u48('robotTime'), 0, MAX_EPOCH_MS),
    voltageMv: r.u16('voltageMv'),
    currentMa: r.i32('currentMa'),
    socPermille: int(t, 'socPermille', r.u16('socPermille'), 0, SOC_MAX),
    batteryTempDeciC: r.i16('batteryTempDeciC'),
    cycleCount: r.u16('cycleCount'),
    xMm: r.i32('xMm'),
    yMm: r.i32('yMm'),
    headingCdeg: int(t, 'headingCdeg', r.u16('headingCdeg'), 0, HEADING_MAX),
    speedMmS: r.i16('speedMmS'),
    dirtLevel: r.u8('dirtLevel'),
    mode: fromCode(t, 'mode', MODE_BY_CODE, MODE_CODE, r.u8('mode')),
    errorFlags: r.u32('errorFlags'),
  };
  r.done();
  return frame;
}

function writeEvent(w: ByteWriter, f: SerialEventFrame): void {
  const t = 'event';
  w.u32(int(t, 'bootId', f.bootId, 0, U32));
  w.u32(int(t, 'seq', f.seq, 0, U32));
  w.u48(int(t, 'robotTime', f.robotTime, 0, MAX_EPOCH_MS));
  const body = f.body;
  switch (body.type) {
    case 'boot':
      w.u8(BODY_CODE.boot);
      writeText(w, t, 'body.firmwareVersion', body.firmwareVersion, 1, FIRMWARE_VERSION_MAX_BYTES);
      w.u8(toCode(t, 'body.resetReason', RESET_CODE, body.resetReason));
      return;
    case 'fault_raised':
      w.u8(BODY_CODE.fault_raised);
      w.u16(int(t, 'body.code', body.code, 0, U16));
      writeOptionalText(w, t, 'body.message', body.message, FAULT_MESSAGE_MAX_BYTES);
      return;
    case 'fault_cleared':
      w.u8(BODY_CODE.fault_cleared);
      w.u16(int(t, 'body.code', body.code, 0, U16));
      return;
    default:
      return unknownVariant(t, 'body.type', body);
  }
}

function readEvent(r: ByteReader): SerialEventFrame {
  const t = 'event';
  const bootId = r.u32('bootId');
  const seq = r.u32('seq');
  const robotTime = int(t, 'robotTime', r.u48('robotTime'), 0, MAX_EPOCH_MS);
  const body = readEventBody(r);
  r.done();
  return { type: 'event', bootId, seq, robotTime, body };
}

function readEventBody(r: ByteReader): RobotEventBody {
  const t = 'event';
  const bodyType = r.u8('body.type');
  switch (bodyType) {
    case BODY_CODE.boot: {
      const firmwareVersion = readText(r, t, 'body.firmwareVersion', 1, FIRMWARE_VERSION_MAX_BYTES);
      const resetReason = fromCode(
        t,
        'body.resetReason',
        RESET_BY_CODE,
        RESET_CODE,
        r.u8('body.resetReason'),
      );
      return { type: 'boot', firmwareVersion, resetReason };
    }
    case BODY_CODE.fault_raised: {
      const code = r.u16('body.code');
      const message = readOptionalText(r, t, 'body.message', FAULT_MESSAGE_MAX_BYTES);
      return message === undefined ? { type: 'fault_raised', code } : { type: 'fault_raised', code, message };
    }
    case BODY_CODE.fault_cleared:
      return { type: 'fault_cleared', code: r.u16('body.code') };
    default:
      throw invalid(t, 'body.type', bodyType, `a known code (${listCodes(BODY_CODE)})`);
  }
}

function writeAck(w: ByteWriter, f: SerialAckFrame): void {
  const t = 'ack';
  w.u48(int(t, 'robotTime', f.robotTime, 0, MAX_EPOCH_MS));
  w.u8(toCode(t, 'outcome', OUTCOME_CODE, f.outcome));
  writeId(w, t, 'commandId', f.commandId);
  writeOptionalText(w, t, 'detail', f.detail, ACK_DETAIL_MAX_BYTES);
}

function readAck(r: ByteReader): SerialAckFrame {
  const t = 'ack';
  const robotTime = int(t, 'robotTime', r.u48('robotTime'), 0, MAX_EPOCH_MS);
  const outcome = fromCode(t, 'outcome', OUTCOME_BY_CODE, OUTCOME_CODE, r.u8('outcome'));
  const commandId = readId(r, t, 'commandId');
  const detail = readOptionalText(r, t, 'detail', ACK_DETAIL_MAX_BYTES);
  r.done();
  return detail === undefined
    ? { type: 'ack', commandId, outcome, robotTime }
    : { type: 'ack', commandId, outcome, robotTime, detail };
}

function writeCommand(w: ByteWriter, f: SerialCommandFrame): void {
  const t = 'command';
  w.u48(int(t, 'deadlineRobotTime', f.deadlineRobotTime, 0, MAX_EPOCH_MS));
  writeId(w, t, 'commandId', f.commandId);
  const action = f.action;
  switch (action.type) {
    case 'start_cleaning':
    case 'stop':
    case 'go_to_dock':
      w.u8(ACTION_CODE[action.type]);
      return;
    case 'go_to_zone':
      w.u8(ACTION_CODE.go_to_zone);
      writeId(w, t, 'action.zoneId', action.zoneId);
      return;
    default:
      return unknownVariant(t, 'action.type', action);
  }
}

function readCommand(r: ByteReader): SerialCommandFrame {
  const t = 'command';
  const deadlineRobotTime = int(t, 'deadlineRobotTime', r.u48('deadlineRobotTime'), 0, MAX_EPOCH_MS);
  const commandId = readId(r, t, 'commandId');
  const actionType = r.u8('action.type');
  let action: CommandAction;
  switch (actionType) {
    case ACTION_CODE.start_cleaning:
      action = { type: 'start_cleaning' };
      break;
    case ACTION_CODE.stop:
      action = { type: 'stop' };
      break;
    case ACTION_CODE.go_to_dock:
      action = { type: 'go_to_dock' };
      break;
    case ACTION_CODE.go_to_zone:
      action = { type: 'go_to_zone', zoneId: readId(r, t, 'action.zoneId') };
      break;
    default:
      throw invalid(t, 'action.type', actionType, `a known code (${listCodes(ACTION_CODE)})`);
  }
  r.done();
  return { type: 'command', commandId, action, deadlineRobotTime };
}

function writeResume(w: ByteWriter, f: SerialResumeFrame): void {
  const t = 'resume';
  const p = f.position;
  if (p === undefined) {
    w.u8(0);
    return;
  }
  if (typeof p !== 'object' || p === null) throw invalid(t, 'position', p, 'an object or absent');
  w.u8(1);
  w.u32(int(t, 'position.bootId', p.bootId, 0, U32));
  w.u32(int(t, 'position.nextSeq', p.nextSeq, 0, U32));
}

function readResume(r: ByteReader): SerialResumeFrame {
  const t = 'resume';
  const hasPosition = r.u8('hasPosition');
  if (hasPosition === 0) {
    r.done();
    return { type: 'resume' };
  }
  if (hasPosition !== 1) throw invalid(t, 'hasPosition', hasPosition, '0 (no position) or 1');
  const bootId = r.u32('position.bootId');
  const nextSeq = r.u32('position.nextSeq');
  r.done();
  return { type: 'resume', position: { bootId, nextSeq } };
}

function writeId(w: ByteWriter, t: string, field: string, id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw invalid(t, field, id, `an id matching ${ID_PATTERN}`);
  w.ascii(id);
}

function readId(r: ByteReader, t: string, field: string): string {
  const n = r.u8(field);
  if (n < 1 || n > ID_MAX_BYTES) throw invalid(t, field, `${n} bytes`, `1..${ID_MAX_BYTES} bytes long`);
  const id = r.ascii(field, n);
  if (!ID_PATTERN.test(id)) throw invalid(t, field, id, `an id matching ${ID_PATTERN}`);
  return id;
}

function writeText(
  w: ByteWriter,
  t: string,
  field: string,
  s: string,
  minBytes: number,
  maxBytes: number,
): void {
  const n = typeof s === 'string' ? utf8Length(s) : -1;
  if (n < 0) throw invalid(t, field, s, 'a string of well-formed Unicode');
  if (n < minBytes || n > maxBytes)
    throw invalid(t, field, s, `${minBytes}..${maxBytes} bytes of UTF-8, not ${n}`);
  w.utf8(s, n);
}

function readText(r: ByteReader, t: string, field: string, minBytes: number, maxBytes: number): string {
  const n = r.u8(field);
  if (n < minBytes || n > maxBytes)
    throw invalid(t, field, `${n} bytes`, `${minBytes}..${maxBytes} bytes of UTF-8`);
  const s = r.utf8(field, n);
  if (s === undefined) throw invalid(t, field, `${n} bytes`, 'valid UTF-8');
  return s;
}

function writeOptionalText(
  w: ByteWriter,
  t: string,
  field: string,
  s: string | undefined,
  maxBytes: number,
): void {
  if (s === undefined) {
    w.u8(0);
  } else {
    w.u8(1);
    writeText(w, t, field, s, 0, maxBytes);
  }
}

function readOptionalText(r: ByteReader, t: string, field: string, maxBytes: number): string | undefined {
  const presence = r.u8(field);
  if (presence === 0) return undefined;
  if (presence !== 1) throw invalid(t, `${field} presence`, presence, '0 (absent) or 1 (present)');
  return readText(r, t, field, 0, maxBytes);
}

function int(t: string, field: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw invalid(t, field, v, `an integer in ${min}..${max}`);
  return v;
}

function toCode<K extends string>(
  t: string,
  field: string,
  table: Readonly<Record<K, number>>,
  key: K,
): number {
  if (typeof key !== 'string' || !Object.hasOwn(table, key)) {
    throw invalid(t, field, key, `one of ${Object.keys(table).join(', ')}`);
  }
  return table[key];
}

function fromCode<K extends string>(
  t: string,
  field: string,
  byCode: readonly (K | undefined)[],
  table: Readonly<Record<K, number>>,
  code: number,
): K {
  const key = byCode[code];
  if (key === undefined) throw invalid(t, field, code, `a known code (${listCodes(table)})`);
  return key;
}

function invert<K extends string>(table: Readonly<Record<K, number>>): readonly (K | undefined)[] {
  const byCode: (K | undefined)[] = [];
  for (const key of Object.keys(table) as K[]) byCode[table[key]] = key;
  return byCode;
}

function listCodes(table: Readonly<Record<string, number>>): string {
  return Object.entries(table)
    .map(([key, code]) => `${code} ${key}`)
    .join(', ');
}

/** Reached only by a value outside the union (plain JavaScript callers); the compiler proves the rest. */
function unknownVariant(t: string, field: string, value: never): never {
  throw invalid(t, field, (value as { type?: unknown }).type, 'a known variant');
}

function invalid(t: string, field: string, value: unknown, expected: string): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.INVALID_MESSAGE,
    `serial ${t} frame: ${field} must be ${expected}, got ${show(value)}`,
    { frameType: t, field, value },
  );
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return String(value);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
