/**
 * The one error class of libs/protocol. Every decoder and validator throws it with a fixed code, so
 * callers act on `code` (count, dead-letter, resync) and never on message text.
 *
 * Decoding errors are `poison`: the same bytes will fail again, so retrying is pointless; the
 * caller skips (serial), dead-letters (gateway) or rejects (API).
 */
export const ProtocolErrorCode = {
  /** The bytes do not form a frame: bad COBS/SLIP stuffing, truncated, or a frame under the minimum size. */
  BAD_FRAME: 'PROTOCOL_BAD_FRAME',
  /** The frame's CRC does not match its contents. */
  BAD_CHECKSUM: 'PROTOCOL_BAD_CHECKSUM',
  /** A magic byte or message type this code does not know. */
  UNKNOWN_TYPE: 'PROTOCOL_UNKNOWN_TYPE',
  /** A schema or frame version this code cannot decode. */
  UNKNOWN_VERSION: 'PROTOCOL_UNKNOWN_VERSION',
  /** A payload, frame, record or topic larger than its stated limit. */
  TOO_LARGE: 'PROTOCOL_TOO_LARGE',
  /** Well-formed bytes or JSON whose values break the schema (range, type, missing field). */
  INVALID_MESSAGE: 'PROTOCOL_INVALID_MESSAGE',
  /** An MQTT topic or Kafka key that does not follow the scheme. */
  BAD_TOPIC: 'PROTOCOL_BAD_TOPIC',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** Retrying the same input can never succeed. */
  readonly poison = true;
  readonly retriable = false;

  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

export function isProtocolError(e: unknown, code?: ProtocolErrorCode): e is ProtocolError {
  return e instanceof ProtocolError && (code === undefined || e.code === code);
}
