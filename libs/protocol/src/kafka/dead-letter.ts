/**
 * Headers of a dead-letter record. The record's value is the rejected MQTT payload, byte for byte;
 * its key is the robot id when the MQTT topic named a valid one, otherwise absent. All header values
 * are UTF-8 text, so `kafka-console-consumer --property print.headers=true` shows them readably.
 *
 *   fleet-dlq-reason-code   a ProtocolErrorCode (e.g. PROTOCOL_BAD_FRAME) or a DeadLetterReason
 *   fleet-dlq-reason        the error's message, at most MAX_REASON_TEXT_LENGTH characters
 *   fleet-dlq-source-topic  the MQTT topic the payload was published on
 *   fleet-dlq-received-at   gateway receive time, decimal ms since the epoch
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { MAX_EPOCH_MS } from '../rules.js';

export const DeadLetterHeader = {
  reasonCode: 'fleet-dlq-reason-code',
  reasonText: 'fleet-dlq-reason',
  sourceTopic: 'fleet-dlq-source-topic',
  receivedAt: 'fleet-dlq-received-at',
} as const;

/** Reasons for dead-lettering that are not decoding errors. */
export const DeadLetterReason = {
  /** The client may not publish on this topic (e.g. a robot writing another robot's topic). */
  UNAUTHORISED: 'DLQ_UNAUTHORISED',
  /** The payload decoded, but its robot id or kind does not match the topic it came on. */
  TOPIC_MISMATCH: 'DLQ_TOPIC_MISMATCH',
  /** Kafka refused the record itself (e.g. larger than the topic's max.message.bytes). */
  KAFKA_REJECTED: 'DLQ_KAFKA_REJECTED',
} as const;

export type DeadLetterReasonCode =
  ProtocolErrorCode | (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

export const MAX_REASON_TEXT_LENGTH = 1024;

export interface DeadLetterInfo {
  /** What went wrong, for programs; a ProtocolError can be passed as is (it has `code` and `message`). */
  readonly reason: { readonly code: DeadLetterReasonCode; readonly message: string };
  readonly sourceTopic: string;
  /** Gateway clock, ms since the epoch. */
  readonly receivedAt: number;
}

const utf8 = new TextEncoder();
const KNOWN_CODES: ReadonlySet<string> = new Set<string>([
  ...Object.values(ProtocolErrorCode),
  ...Object.values(DeadLetterReason),
]);

/**
 * The headers of a dead-letter record, as a Map (accepted by Kafka clients as is, or via
 * `Object.fromEntries`).
 *
 * @example
 * catch (e) {
 *   if (!isProtocolError(e)) throw e;
 *   await produce(KafkaTopics.deadLetter, payload, deadLetterHeaders({ reason: e, sourceTopic: topic, receivedAt: now }));
 * }
 */
export function deadLetterHeaders(info: DeadLetterInfo): Map<string, Uint8Array> {
  if (!Number.isInteger(info.receivedAt) || info.receivedAt < 0 || info.receivedAt > MAX_EPOCH_MS) {
    throw new RangeError(`receivedAt must be epoch ms, got ${info.receivedAt}`);
  }
  const text =
    info.reason.message.length > MAX_REASON_TEXT_LENGTH
      ? `${info.reason.message.slice(0, MAX_REASON_TEXT_LENGTH - 1)}…`
      : info.reason.message;
  return new Map([
    [DeadLetterHeader.reasonCode, utf8.encode(info.reason.code)],
    [DeadLetterHeader.reasonText, utf8.encode(text)],
    [DeadLetterHeader.sourceTopic, utf8.encode(info.sourceTopic)],
    [DeadLetterHeader.receivedAt, utf8.encode(String(info.receivedAt))],
  ]);
}

export interface ParsedDeadLetter {
  readonly reasonCode: DeadLetterReasonCode;
  readonly reasonText: string;
  readonly sourceTopic: string;
  readonly receivedAt: number;
}

type HeaderBytes = string | Uint8Array | null | undefined;

/**
 * Reads the headers written by `deadLetterHeaders` (for tools that replay or inspect the
 * dead-letter topic). Throws INVALID_MESSAGE naming a missing or malformed header.
 */
export function parseDeadLetterHeaders(
  headers: Iterable<readonly [string | Uint8Array, HeaderBytes]>,
): ParsedDeadLetter {
  const text = new TextDecoder();
  const asText = (v: HeaderBytes): string | undefined =>
    v === null || v === undefined ? undefined : typeof v === 'string' ? v : text.decode(v);
  const values = new Map<string, string>();
  for (const [k, v] of headers) {
    const value = asText(v);
    if (value !== undefined) values.set(typeof k === 'string' ? k : text.decode(k), value);
  }
  const need = (name: string): string => {
    const v = values.get(name);
    if (v === undefined)
      throw new ProtocolError(ProtocolErrorCode.INVALID_MESSAGE, `dead-letter header ${name} is missing`, {
        header: name,
      });
    return v;
  };
  const reasonCode = need(DeadLetterHeader.reasonCode);
  if (!isReasonCode(reasonCode)) {
    throw new ProtocolError(
      ProtocolErrorCode.INVALID_MESSAGE,
      `dead-letter header ${DeadLetterHeader.reasonCode}: unknown code ${JSON.stringify(reasonCode)}`,
      {
        header: DeadLetterHeader.reasonCode,
      },
    );
  }
  const receivedAtText = need(DeadLetterHeader.receivedAt);
  const receivedAt = Number(receivedAtText);
  if (!/^\d{1,15}$/.test(receivedAtText) || receivedAt > MAX_EPOCH_MS) {
    throw new ProtocolError(
      ProtocolErrorCode.INVALID_MESSAGE,
      `dead-letter header ${DeadLetterHeader.receivedAt}: ${JSON.stringify(receivedAtText)} is not epoch ms`,
      {
        header: DeadLetterHeader.receivedAt,
      },
    );
  }
  return {
    reasonCode,
    reasonText: need(DeadLetterHeader.reasonText),
    sourceTopic: need(DeadLetterHeader.sourceTopic),
    receivedAt,
  };
}

function isReasonCode(s: string): s is DeadLetterReasonCode {
  return KNOWN_CODES.has(s);
}
