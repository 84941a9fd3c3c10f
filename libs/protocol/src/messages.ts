/**
 * Every message the platform carries, as discriminated unions on `kind`, with runtime validation.
 *
 * Units are integers with the unit in the field name (mV, mA, per mille, 0.1 °C, mm, 0.01°), so the
 * binary codecs round-trip values exactly and nothing downstream guesses a unit.
 * Times are integer milliseconds since the Unix epoch, in the robot's corrected event time unless
 * the name says otherwise.
 *
 * The zod schemas validate JSON payloads (debugging, API input); the binary codecs check the same
 * rules (rules.ts) with hand-written code on their hot path (binary/checks.ts), proven equivalent by
 * a property test. `decodeJson` is the one entry point for untrusted JSON. The schemas are
 * defined in schemas.ts and built on first use; each export below is a pure call, so a bundle that
 * uses none of them (the robot agent) neither builds them nor keeps their code.
 */
import type { z } from 'zod';
import { schemaNamed } from './schemas.js';

export {
  ACK_OUTCOMES,
  ACK_SOURCES,
  COMMAND_ACTION_TYPES,
  ErrorFlag,
  ID_PATTERN,
  MAX_EPOCH_MS,
  MAX_ID_LENGTH,
  PRESENCE_REASONS,
  RESET_REASONS,
  ROBOT_MODES,
  type AckOutcome,
  type RobotMode,
} from './rules.js';

export const robotIdSchema = /* @__PURE__ */ schemaNamed('robotIdSchema');
export const siteIdSchema = /* @__PURE__ */ schemaNamed('siteIdSchema');
export const zoneIdSchema = /* @__PURE__ */ schemaNamed('zoneIdSchema');
export const commandIdSchema = /* @__PURE__ */ schemaNamed('commandIdSchema');
/** Milliseconds since the Unix epoch, 0..MAX_EPOCH_MS. */
export const epochMsSchema = /* @__PURE__ */ schemaNamed('epochMsSchema');
/** A boot id is chosen by the firmware at each boot (random or a persisted counter), u32. */
export const bootIdSchema = /* @__PURE__ */ schemaNamed('bootIdSchema');
/** Per-boot sequence number shared by samples and events, u32, starting at 0 at each boot. */
export const seqSchema = /* @__PURE__ */ schemaNamed('seqSchema');

export const telemetrySampleSchema = /* @__PURE__ */ schemaNamed('telemetrySampleSchema');
export type TelemetrySample = z.infer<typeof telemetrySampleSchema>;

export const commandActionSchema = /* @__PURE__ */ schemaNamed('commandActionSchema');
export type CommandAction = z.infer<typeof commandActionSchema>;

/** A command must not have its deadline before its issue time. */
export const commandSchema = /* @__PURE__ */ schemaNamed('commandSchema');
export type Command = z.infer<typeof commandSchema>;

export const commandAckSchema = /* @__PURE__ */ schemaNamed('commandAckSchema');
export type CommandAck = z.infer<typeof commandAckSchema>;

export const robotEventBodySchema = /* @__PURE__ */ schemaNamed('robotEventBodySchema');
export type RobotEventBody = z.infer<typeof robotEventBodySchema>;

/** Something the firmware reports once (not sampled): it shares the per-boot `seq` with samples. */
export const robotEventSchema = /* @__PURE__ */ schemaNamed('robotEventSchema');
export type RobotEvent = z.infer<typeof robotEventSchema>;

/**
 * Whether a robot's agent is connected. The agent publishes `online` (retained) on connect and
 * leaves `last_will` with the broker; the gateway turns connects and disconnects into these too.
 */
export const presenceSchema = /* @__PURE__ */ schemaNamed('presenceSchema');
export type Presence = z.infer<typeof presenceSchema>;

/** A zone must have positive area. */
export const zoneSchema = /* @__PURE__ */ schemaNamed('zoneSchema');
export type Zone = z.infer<typeof zoneSchema>;

/** Slowly changing facts about a robot; a compacted topic keyed by robot id, broadcast to all. */
export const robotMetadataSchema = /* @__PURE__ */ schemaNamed('robotMetadataSchema');
export type RobotMetadata = z.infer<typeof robotMetadataSchema>;

/**
 * NTP-style exchange between agent and gateway. The agent sends t0 (its clock); the gateway answers
 * with t1 (receive) and t2 (send) on its clock; the agent notes t3 on arrival and estimates
 * offset = ((t1 - t0) + (t2 - t3)) / 2, delay = (t3 - t0) - (t2 - t1).
 */
export const timeSyncRequestSchema = /* @__PURE__ */ schemaNamed('timeSyncRequestSchema');
export type TimeSyncRequest = z.infer<typeof timeSyncRequestSchema>;

export const timeSyncResponseSchema = /* @__PURE__ */ schemaNamed('timeSyncResponseSchema');
export type TimeSyncResponse = z.infer<typeof timeSyncResponseSchema>;

export const messageSchema = /* @__PURE__ */ schemaNamed('messageSchema');
export type Message = z.infer<typeof messageSchema>;
export type MessageKind = Message['kind'];
