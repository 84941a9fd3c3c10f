/**
 * The zod schemas of every message, built on first use. messages.ts exports each of them under its
 * public name; json.ts asks for them only when a JSON payload is encoded or decoded. So a bundle
 * that never touches JSON or a schema export (the robot agent, which validates binary records with
 * binary/checks.ts) does not build them: messages.ts's exports are pure calls a bundler drops when
 * they are unused.
 *
 * Every range and length comes from rules.ts, which the binary codecs' checks use as well.
 */
import { z } from 'zod';
import {
  ACK_OUTCOMES,
  ACK_SOURCES,
  I16_MAX,
  I16_MIN,
  I32_MAX,
  I32_MIN,
  ID_PATTERN,
  ID_RULE,
  MAX_ACK_DETAIL_LENGTH,
  MAX_EPOCH_MS,
  MAX_FAULT_MESSAGE_LENGTH,
  MAX_FIRMWARE_VERSION_LENGTH,
  MAX_HEADING_CDEG,
  MAX_MODEL_LENGTH,
  MAX_SOC_PERMILLE,
  MAX_ZONE_NAME_LENGTH,
  MAX_ZONES,
  PRESENCE_REASONS,
  RESET_REASONS,
  ROBOT_MODES,
  U16,
  U32,
  U8,
} from './rules.js';

const intIn = (min: number, max: number) => z.int().min(min).max(max);
const idSchema = (label: string) => z.string().regex(ID_PATTERN, `${label} id ${ID_RULE}`);

function buildSchemas() {
  const robotIdSchema = idSchema('robot');
  const siteIdSchema = idSchema('site');
  const zoneIdSchema = idSchema('zone');
  const commandIdSchema = idSchema('command');
  const epochMsSchema = intIn(0, MAX_EPOCH_MS);
  const bootIdSchema = intIn(0, U32);
  const seqSchema = intIn(0, U32);

  const telemetrySampleSchema = z.strictObject({
    kind: z.literal('telemetry'),
    robotId: robotIdSchema,
    bootId: bootIdSchema,
    seq: seqSchema,
    eventTime: epochMsSchema,
    /** Battery terminal voltage, mV. */
    voltageMv: intIn(0, U16),
    /** Battery current, mA; positive discharges, negative charges. */
    currentMa: intIn(I32_MIN, I32_MAX),
    /** State of charge, 0..1000 per mille. */
    socPermille: intIn(0, MAX_SOC_PERMILLE),
    /** Battery temperature, 0.1 °C. */
    batteryTempDeciC: intIn(I16_MIN, I16_MAX),
    /** Full charge cycles counted by the battery management system. */
    cycleCount: intIn(0, U16),
    siteId: siteIdSchema,
    /** Position on the site map, mm from the map origin. */
    xMm: intIn(I32_MIN, I32_MAX),
    yMm: intIn(I32_MIN, I32_MAX),
    /** Heading, 0.01 degree, 0 = +x axis, counter-clockwise. */
    headingCdeg: intIn(0, MAX_HEADING_CDEG),
    /** Ground speed, mm/s (negative when reversing). */
    speedMmS: intIn(I16_MIN, I16_MAX),
    /** Dirt sensor reading under the robot, 0 (clean) .. 255. */
    dirtLevel: intIn(0, U8),
    mode: z.enum(ROBOT_MODES),
    /** Bitset of `ErrorFlag`. */
    errorFlags: intIn(0, U32),
  });

  const commandActionSchema = z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('start_cleaning') }),
    z.strictObject({ type: z.literal('stop') }),
    z.strictObject({ type: z.literal('go_to_dock') }),
    z.strictObject({ type: z.literal('go_to_zone'), zoneId: zoneIdSchema }),
  ]);

  const commandSchema = z
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

  const commandAckSchema = z.strictObject({
    kind: z.literal('command_ack'),
    commandId: commandIdSchema,
    robotId: robotIdSchema,
    outcome: z.enum(ACK_OUTCOMES),
    /** `agent` when the agent answers for a firmware that never did (outcome `timeout`). */
    source: z.enum(ACK_SOURCES),
    /** Event time of the ack (robot clock, corrected by the agent). */
    robotTime: epochMsSchema,
    detail: z.string().max(MAX_ACK_DETAIL_LENGTH).optional(),
  });

  const robotEventBodySchema = z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('boot'),
      firmwareVersion: z.string().min(1).max(MAX_FIRMWARE_VERSION_LENGTH),
      resetReason: z.enum(RESET_REASONS),
    }),
    z.strictObject({
      type: z.literal('fault_raised'),
      code: intIn(0, U16),
      message: z.string().max(MAX_FAULT_MESSAGE_LENGTH).optional(),
    }),
    z.strictObject({ type: z.literal('fault_cleared'), code: intIn(0, U16) }),
  ]);

  /** Something the firmware reports once (not sampled): it shares the per-boot `seq` with samples. */
  const robotEventSchema = z.strictObject({
    kind: z.literal('robot_event'),
    robotId: robotIdSchema,
    bootId: bootIdSchema,
    seq: seqSchema,
    eventTime: epochMsSchema,
    event: robotEventBodySchema,
  });

  const presenceSchema = z.strictObject({
    kind: z.literal('presence'),
    robotId: robotIdSchema,
    online: z.boolean(),
    reason: z.enum(PRESENCE_REASONS),
    /** Cloud clock when the presence changed (the gateway's receive time for a last will). */
    at: epochMsSchema,
  });

  const zoneSchema = z
    .strictObject({
      zoneId: zoneIdSchema,
      name: z.string().min(1).max(MAX_ZONE_NAME_LENGTH),
      minXMm: intIn(I32_MIN, I32_MAX),
      minYMm: intIn(I32_MIN, I32_MAX),
      maxXMm: intIn(I32_MIN, I32_MAX),
      maxYMm: intIn(I32_MIN, I32_MAX),
    })
    .refine((z) => z.maxXMm > z.minXMm && z.maxYMm > z.minYMm, { message: 'zone must have positive area' });

  const robotMetadataSchema = z.strictObject({
    kind: z.literal('robot_metadata'),
    robotId: robotIdSchema,
    model: z.string().min(1).max(MAX_MODEL_LENGTH),
    siteId: siteIdSchema,
    zones: z.array(zoneSchema).max(MAX_ZONES),
    nominalCapacityMah: intIn(1, U32),
    updatedAt: epochMsSchema,
  });

  const timeSyncRequestSchema = z.strictObject({
    kind: z.literal('time_sync_request'),
    robotId: robotIdSchema,
    requestId: intIn(0, U32),
    agentSendTime: epochMsSchema,
  });

  const timeSyncResponseSchema = z.strictObject({
    kind: z.literal('time_sync_response'),
    robotId: robotIdSchema,
    requestId: intIn(0, U32),
    agentSendTime: epochMsSchema,
    gatewayReceiveTime: epochMsSchema,
    gatewaySendTime: epochMsSchema,
  });

  const messageSchema = z.discriminatedUnion('kind', [
    telemetrySampleSchema,
    commandSchema,
    commandAckSchema,
    robotEventSchema,
    presenceSchema,
    robotMetadataSchema,
    timeSyncRequestSchema,
    timeSyncResponseSchema,
  ]);

  return {
    robotIdSchema,
    siteIdSchema,
    zoneIdSchema,
    commandIdSchema,
    epochMsSchema,
    bootIdSchema,
    seqSchema,
    telemetrySampleSchema,
    commandActionSchema,
    commandSchema,
    commandAckSchema,
    robotEventBodySchema,
    robotEventSchema,
    presenceSchema,
    zoneSchema,
    robotMetadataSchema,
    timeSyncRequestSchema,
    timeSyncResponseSchema,
    messageSchema,
  };
}

export type MessageSchemas = ReturnType<typeof buildSchemas>;

let built: MessageSchemas | undefined;

/** Every schema, built on the first call. */
export function messageSchemas(): MessageSchemas {
  return (built ??= buildSchemas());
}

/** One schema by name (messages.ts's exports: a pure call, so an unused export costs nothing). */
export function schemaNamed<K extends keyof MessageSchemas>(name: K): MessageSchemas[K] {
  return messageSchemas()[name];
}
