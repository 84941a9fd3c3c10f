/**
 * Payload sniffing for MQTT: binary records are the default, JSON is accepted for debugging.
 *
 * The first byte that is not JSON whitespace (space, tab, LF, CR) decides: `{` or `[` is JSON,
 * anything else must be a binary record starting with the magic byte 0xFB. The two cannot be
 * confused, since UTF-8 text never contains 0xFB.
 */
import { decodeTelemetryBatch } from '../batch/index.js';
import { decodeMessage } from '../binary/index.js';
import { TELEMETRY_BATCH_RECORD_TYPE } from '../binary/wire.js';
import type { TelemetryBatch } from '../batch/types.js';
import { decodeJson } from '../json.js';
import type { Message } from '../messages.js';

export type PayloadFormat = 'binary' | 'json';

/**
 * A decoded payload. A binary telemetry batch can be forwarded to Kafka as is; a JSON one must be
 * re-encoded (`encodeTelemetryBatches`) first, since Kafka carries binary records only.
 */
export type DecodedPayload =
  | { type: 'telemetry_batch'; format: PayloadFormat; batch: TelemetryBatch }
  | { type: 'message'; format: PayloadFormat; message: Message };

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

export function payloadFormat(bytes: Uint8Array): PayloadFormat {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === OPEN_BRACE || b === OPEN_BRACKET ? 'json' : 'binary';
  }
  return 'binary';
}

/**
 * Decodes an MQTT payload of any supported form. Throws ProtocolError with the code of whichever
 * decoder failed (BAD_FRAME, UNKNOWN_TYPE, UNKNOWN_VERSION, TOO_LARGE, INVALID_MESSAGE).
 *
 * @example
 * const decoded = decodePayload(packet.payload);
 * if (decoded.type === 'telemetry_batch') handleBatch(decoded.batch);
 */
export function decodePayload(bytes: Uint8Array): DecodedPayload {
  if (payloadFormat(bytes) === 'json') return { ...decodeJson(bytes), format: 'json' };
  if (bytes.length >= 3 && bytes[2] === TELEMETRY_BATCH_RECORD_TYPE) {
    return { type: 'telemetry_batch', format: 'binary', batch: decodeTelemetryBatch(bytes) };
  }
  return { type: 'message', format: 'binary', message: decodeMessage(bytes) };
}
