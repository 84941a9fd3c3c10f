/**
 * Binary layouts, version 1, of every single message (all kinds but the telemetry batch).
 *
 * Each record is the 3-byte envelope (`wire.ts`: magic 0xFB, version 1, record type) followed by
 * the body below. Field encodings (id, text, opt text, u48, bool) are defined in `wire.ts`; enum
 * codes in `codes.ts`. A body ends exactly where its layout ends.
 *
 * Values are checked before encoding and after decoding by checks.ts: the rules of the zod schemas
 * that JSON is checked with, hand-written (no zod on this path) and proven equivalent by a property
 * test, so the binary and JSON forms accept exactly the same messages.
 */
import type { CommandAction, Message, MessageKind, RobotEventBody, Zone } from '../messages.js';
import {
  ackOutcomeCodes,
  ackSourceCodes,
  commandActionCodes,
  messageTypeCodes,
  presenceReasonCodes,
  resetReasonCodes,
  robotEventTypeCodes,
  robotModeCodes,
} from './codes.js';
import { checkMessage } from './checks.js';
import { ByteReader, ByteWriter, ENVELOPE_BYTES, WIRE_MAGIC } from './wire.js';

export const MESSAGE_LAYOUT_VERSION_1 = 1;

type MessageOf<K extends MessageKind> = Extract<Message, { kind: K }>;

/**
 * Writes the envelope and the body of `msg`. The body layouts, in field order:
 *
 * telemetry (0x10), 46 bytes + ids:
 *   id robotId | id siteId | u32 bootId | u32 seq | u48 eventTime | u16 voltageMv | i32 currentMa
 *   | u16 socPermille | i16 batteryTempDeciC | u16 cycleCount | i32 xMm | i32 yMm | u16 headingCdeg
 *   | i16 speedMmS | u8 dirtLevel | u8 mode | u32 errorFlags
 * command (0x11):
 *   id commandId | id robotId | u48 issuedAt | u48 deadline | u8 action.type
 *   | (go_to_zone only) id action.zoneId
 * command_ack (0x12):
 *   id commandId | id robotId | u8 outcome | u8 source | u48 robotTime | opt text detail
 * robot_event (0x13):
 *   id robotId | u32 bootId | u32 seq | u48 eventTime | u8 event.type, then per type:
 *     boot          text firmwareVersion | u8 resetReason
 *     fault_raised  u16 code | opt text message
 *     fault_cleared u16 code
 * presence (0x14):
 *   id robotId | bool online | u8 reason | u48 at
 * robot_metadata (0x15):
 *   id robotId | id siteId | text model | u32 nominalCapacityMah | u48 updatedAt | u16 zone count,
 *   then per zone: id zoneId | text name | i32 minXMm | i32 minYMm | i32 maxXMm | i32 maxYMm
 * time_sync_request (0x16):
 *   id robotId | u32 requestId | u48 agentSendTime
 * time_sync_response (0x17):
 *   id robotId | u32 requestId | u48 agentSendTime | u48 gatewayReceiveTime | u48 gatewaySendTime
 */
export function encodeMessageV1(input: Message): Uint8Array {
  const msg = checkMessage(input, input.kind);
  const w = new ByteWriter(msg.kind === 'robot_metadata' ? 1024 : 128);
  w.u8(WIRE_MAGIC);
  w.u8(MESSAGE_LAYOUT_VERSION_1);
  w.u8(messageTypeCodes.encode(msg.kind));
  switch (msg.kind) {
    case 'telemetry':
      w.id(msg.robotId);
      w.id(msg.siteId);
      w.u32(msg.bootId);
      w.u32(msg.seq);
      w.u48(msg.eventTime);
      w.u16(msg.voltageMv);
      w.i32(msg.currentMa);
      w.u16(msg.socPermille);
      w.i16(msg.batteryTempDeciC);
      w.u16(msg.cycleCount);
      w.i32(msg.xMm);
      w.i32(msg.yMm);
      w.u16(msg.headingCdeg);
      w.i16(msg.speedMmS);
      w.u8(msg.dirtLevel);
      w.u8(robotModeCodes.encode(msg.mode));
      w.u32(msg.errorFlags);
      break;
    case 'command':
      w.id(msg.commandId);
      w.id(msg.robotId);
      w.u48(msg.issuedAt);
      w.u48(msg.deadline);
      writeAction(w, msg.action);
      break;
    case 'command_ack':
      w.id(msg.commandId);
      w.id(msg.robotId);
      w.u8(ackOutcomeCodes.encode(msg.outcome));
      w.u8(ackSourceCodes.encode(msg.source));
      w.u48(msg.robotTime);
      w.optionalText(msg.detail, 'detail');
      break;
    case 'robot_event':
      w.id(msg.robotId);
      w.u32(msg.bootId);
      w.u32(msg.seq);
      w.u48(msg.eventTime);
      writeEventBody(w, msg.event);
      break;
    case 'presence':
      w.id(msg.robotId);
      w.bool(msg.online);
      w.u8(presenceReasonCodes.encode(msg.reason));
      w.u48(msg.at);
      break;
    case 'robot_metadata':
      w.id(msg.robotId);
      w.id(msg.siteId);
      w.text(msg.model, 'model');
      w.u32(msg.nominalCapacityMah);
      w.u48(msg.updatedAt);
      w.u16(msg.zones.length);
      msg.zones.forEach((zone, i) => writeZone(w, zone, i));
      break;
    case 'time_sync_request':
      w.id(msg.robotId);
      w.u32(msg.requestId);
      w.u48(msg.agentSendTime);
      break;
    case 'time_sync_response':
      w.id(msg.robotId);
      w.u32(msg.requestId);
      w.u48(msg.agentSendTime);
      w.u48(msg.gatewayReceiveTime);
      w.u48(msg.gatewaySendTime);
      break;
    default:
      return assertNever(msg);
  }
  return w.finish();
}

function writeAction(w: ByteWriter, action: CommandAction): void {
  w.u8(commandActionCodes.encode(action.type));
  if (action.type === 'go_to_zone') w.id(action.zoneId);
}

function writeEventBody(w: ByteWriter, event: RobotEventBody): void {
  w.u8(robotEventTypeCodes.encode(event.type));
  switch (event.type) {
    case 'boot':
      w.text(event.firmwareVersion, 'event.firmwareVersion');
      w.u8(resetReasonCodes.encode(event.resetReason));
      return;
    case 'fault_raised':
      w.u16(event.code);
      w.optionalText(event.message, 'event.message');
      return;
    case 'fault_cleared':
      w.u16(event.code);
      return;
    default:
      return assertNever(event);
  }
}

function writeZone(w: ByteWriter, zone: Zone, i: number): void {
  w.id(zone.zoneId);
  w.text(zone.name, `zones[${i}].name`);
  w.i32(zone.minXMm);
  w.i32(zone.minYMm);
  w.i32(zone.maxXMm);
  w.i32(zone.maxYMm);
}

export function assertNever(value: never): never {
  throw new Error(`unhandled variant ${JSON.stringify(value)}`);
}

/**
 * One reader per kind, reading fields in wire order. The mapped type makes the compiler prove that
 * every kind has a decoder; each returns the kind schema's output (keys in schema order), never the
 * raw object.
 */
const DECODERS: { readonly [K in MessageKind]: (r: ByteReader) => MessageOf<K> } = {
  telemetry: (r) =>
    check('telemetry', {
      kind: 'telemetry',
      robotId: r.id('robotId'),
      siteId: r.id('siteId'),
      bootId: r.u32('bootId'),
      seq: r.u32('seq'),
      eventTime: r.u48('eventTime'),
      voltageMv: r.u16('voltageMv'),
      currentMa: r.i32('currentMa'),
      socPermille: r.u16('socPermille'),
      batteryTempDeciC: r.i16('batteryTempDeciC'),
      cycleCount: r.u16('cycleCount'),
      xMm: r.i32('xMm'),
      yMm: r.i32('yMm'),
      headingCdeg: r.u16('headingCdeg'),
      speedMmS: r.i16('speedMmS'),
      dirtLevel: r.u8('dirtLevel'),
      mode: robotModeCodes.decode(r.u8('mode')),
      errorFlags: r.u32('errorFlags'),
    }),
  command: (r) =>
    check('command', {
      kind: 'command',
      commandId: r.id('commandId'),
      robotId: r.id('robotId'),
      issuedAt: r.u48('issuedAt'),
      deadline: r.u48('deadline'),
      action: readAction(r),
    }),
  command_ack: (r) => {
    const ack = {
      kind: 'command_ack',
      commandId: r.id('commandId'),
      robotId: r.id('robotId'),
      outcome: ackOutcomeCodes.decode(r.u8('outcome')),
      source: ackSourceCodes.decode(r.u8('source')),
      robotTime: r.u48('robotTime'),
    };
    const detail = r.optionalText('detail');
    return check('command_ack', detail === undefined ? ack : { ...ack, detail });
  },
  robot_event: (r) =>
    check('robot_event', {
      kind: 'robot_event',
      robotId: r.id('robotId'),
      bootId: r.u32('bootId'),
      seq: r.u32('seq'),
      eventTime: r.u48('eventTime'),
      event: readEventBody(r),
    }),
  presence: (r) =>
    check('presence', {
      kind: 'presence',
      robotId: r.id('robotId'),
      online: r.bool('online'),
      reason: presenceReasonCodes.decode(r.u8('reason')),
      at: r.u48('at'),
    }),
  robot_metadata: (r) => {
    const robotId = r.id('robotId');
    const siteId = r.id('siteId');
    const model = r.text('model');
    const nominalCapacityMah = r.u32('nominalCapacityMah');
    const updatedAt = r.u48('updatedAt');
    const count = r.u16('zones.length');
    const zones: unknown[] = [];
    for (let i = 0; i < count; i++) zones.push(readZone(r, i));
    return check('robot_metadata', {
      kind: 'robot_metadata',
      robotId,
      model,
      siteId,
      zones,
      nominalCapacityMah,
      updatedAt,
    });
  },
  time_sync_request: (r) =>
    check('time_sync_request', {
      kind: 'time_sync_request',
      robotId: r.id('robotId'),
      requestId: r.u32('requestId'),
      agentSendTime: r.u48('agentSendTime'),
    }),
  time_sync_response: (r) =>
    check('time_sync_response', {
      kind: 'time_sync_response',
      robotId: r.id('robotId'),
      requestId: r.u32('requestId'),
      agentSendTime: r.u48('agentSendTime'),
      gatewayReceiveTime: r.u48('gatewayReceiveTime'),
      gatewaySendTime: r.u48('gatewaySendTime'),
    }),
};

/** The decoded fields of a `kind` record, checked (INVALID_MESSAGE) and in schema key order. */
function check<K extends MessageKind>(kind: K, value: unknown): MessageOf<K> {
  return checkMessage(value, kind) as MessageOf<K>;
}

function readAction(r: ByteReader): unknown {
  const type = commandActionCodes.decode(r.u8('action.type'));
  return type === 'go_to_zone' ? { type, zoneId: r.id('action.zoneId') } : { type };
}

function readEventBody(r: ByteReader): unknown {
  const type = robotEventTypeCodes.decode(r.u8('event.type'));
  switch (type) {
    case 'boot':
      return {
        type,
        firmwareVersion: r.text('event.firmwareVersion'),
        resetReason: resetReasonCodes.decode(r.u8('event.resetReason')),
      };
    case 'fault_raised': {
      const code = r.u16('event.code');
      const message = r.optionalText('event.message');
      return message === undefined ? { type, code } : { type, code, message };
    }
    case 'fault_cleared':
      return { type, code: r.u16('event.code') };
    default:
      return assertNever(type);
  }
}

function readZone(r: ByteReader, i: number): unknown {
  return {
    zoneId: r.id(`zones[${i}].zoneId`),
    name: r.text(`zones[${i}].name`),
    minXMm: r.i32(`zones[${i}].minXMm`),
    minYMm: r.i32(`zones[${i}].minYMm`),
    maxXMm: r.i32(`zones[${i}].maxXMm`),
    maxYMm: r.i32(`zones[${i}].maxYMm`),
  };
}

/**
 * Decodes a version-1 body of kind `kind`. The caller has checked the envelope, so reading starts
 * after it; every field read is bounds-checked, then the whole record must have been consumed.
 */
export function decodeMessageV1<K extends MessageKind>(bytes: Uint8Array, kind: K): MessageOf<K> {
  const r = new ByteReader(bytes, ENVELOPE_BYTES);
  const decode: (r: ByteReader) => MessageOf<K> = DECODERS[kind];
  const message = decode(r);
  r.end();
  return message;
}
