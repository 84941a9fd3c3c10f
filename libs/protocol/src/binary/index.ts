/**
 * Binary codec for single messages: checks the envelope, the size limit and the layout version,
 * then hands the body to the decoder of that version.
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { MAX_MESSAGE_BYTES } from '../limits.js';
import type { Message } from '../messages.js';
import { messageTypeCodes } from './codes.js';
import { decodeMessageV1, encodeMessageV1, MESSAGE_LAYOUT_VERSION_1 } from './messages-v1.js';
import { hex, readEnvelope, TELEMETRY_BATCH_RECORD_TYPE } from './wire.js';

export { CodeTable, messageTypeCodes, robotModeCodes } from './codes.js';
export { formatPath, issuesError, validated, type IssueSummary } from './validate.js';
export {
  ENVELOPE_BYTES,
  TELEMETRY_BATCH_RECORD_TYPE,
  WIRE_MAGIC,
  readEnvelope,
  type Envelope,
} from './wire.js';

/** Layout versions `decodeMessage` understands, oldest first. */
export const MESSAGE_LAYOUT_VERSIONS: readonly number[] = [MESSAGE_LAYOUT_VERSION_1];
/** Layout version `encodeMessage` writes. */
export const MESSAGE_LAYOUT_VERSION = MESSAGE_LAYOUT_VERSION_1;

/**
 * Encodes any message except a telemetry batch into its binary record. Throws INVALID_MESSAGE
 * (naming the field) when the message breaks its schema.
 *
 * @example
 * const bytes = encodeMessage({ kind: 'presence', robotId: 'r-1', online: true, reason: 'connected', at: Date.now() });
 * decodeMessage(bytes).kind; // 'presence'
 */
export function encodeMessage(msg: Message): Uint8Array {
  return encodeMessageV1(msg);
}

/**
 * Decodes a binary record made by `encodeMessage`, of any supported layout version.
 * Throws ProtocolError: UNKNOWN_TYPE (magic, record type, or a telemetry batch), UNKNOWN_VERSION,
 * TOO_LARGE, BAD_FRAME (truncated or trailing bytes), INVALID_MESSAGE (a value breaks the schema).
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const { version, recordType } = readEnvelope(bytes);
  if (recordType === TELEMETRY_BATCH_RECORD_TYPE) {
    throw new ProtocolError(
      ProtocolErrorCode.UNKNOWN_TYPE,
      `record type ${hex(recordType)} is a telemetry batch, not a single message; decode it with decodeTelemetryBatch`,
      { recordType },
    );
  }
  const kind = messageTypeCodes.names[recordType];
  if (kind === undefined) {
    throw new ProtocolError(ProtocolErrorCode.UNKNOWN_TYPE, `unknown record type ${hex(recordType)}`, {
      recordType,
    });
  }
  if (!MESSAGE_LAYOUT_VERSIONS.includes(version)) {
    throw new ProtocolError(
      ProtocolErrorCode.UNKNOWN_VERSION,
      `${kind} layout version ${version} is not supported (supported: ${MESSAGE_LAYOUT_VERSIONS.join(', ')})`,
      { kind, version, supported: MESSAGE_LAYOUT_VERSIONS },
    );
  }
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `${kind} record of ${bytes.length} bytes exceeds the limit of ${MAX_MESSAGE_BYTES} bytes`,
      { kind, length: bytes.length, limit: MAX_MESSAGE_BYTES },
    );
  }
  return decodeMessageV1(bytes, kind);
}
