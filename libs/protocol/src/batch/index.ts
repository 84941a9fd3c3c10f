/**
 * Telemetry batch records: the current layout for writing, every supported layout for reading.
 * The envelope (magic, layout version, record type) is checked here; each version's file owns the
 * rest of its layout.
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { MAX_BATCH_BYTES, MAX_BATCH_SAMPLES } from '../limits.js';
import type { TelemetrySample } from '../messages.js';
import { messageTypeCodes } from '../binary/codes.js';
import { hex, readEnvelope, TELEMETRY_BATCH_RECORD_TYPE } from '../binary/wire.js';
import {
  decodeTelemetryBatchV1,
  encodeTelemetryBatchV1,
  peekTelemetryBatchHeaderV1,
  TELEMETRY_BATCH_V1,
} from './telemetry-batch-v1.js';
import type { TelemetryBatch, TelemetryBatchHeader } from './types.js';

export type { TelemetryBatch, TelemetryBatchHeader } from './types.js';
export { TELEMETRY_BATCH_V1_MAX_BYTES, TELEMETRY_BATCH_V1_ROW_BYTES } from './telemetry-batch-v1.js';

/** Layout version the encoders write. */
export const TELEMETRY_BATCH_VERSION = TELEMETRY_BATCH_V1;
/** Layout versions the decoders read, oldest first. */
export const TELEMETRY_BATCH_VERSIONS: readonly number[] = [TELEMETRY_BATCH_V1];

const I32_MAX = 0x7fff_ffff;
const I32_MIN = -0x8000_0000;

/**
 * Encodes samples of one robot, one boot and one site into one record (current layout).
 * Throws INVALID_MESSAGE when a value breaks the schema, the samples disagree on robotId, bootId or
 * siteId, or an event time is more than an i32 of ms from the first; TOO_LARGE above MAX_BATCH_SAMPLES.
 *
 * @example
 * const bytes = encodeTelemetryBatch(samples);      // samples of robot r-1, boot 7, site s-1
 * decodeTelemetryBatch(bytes).samples.length;      // samples.length
 */
export function encodeTelemetryBatch(samples: readonly TelemetrySample[]): Uint8Array {
  return encodeTelemetryBatchV1(samples);
}

export interface EncodeTelemetryBatchesOptions {
  /** Most samples per record, 1..MAX_BATCH_SAMPLES; defaults to MAX_BATCH_SAMPLES. */
  readonly maxSamples?: number;
}

/**
 * Encodes any samples into as few records as the layout allows. Samples are grouped by
 * (robotId, bootId, siteId); groups come out in order of their first sample, and within a group the
 * input order is kept, so each robot's per-boot `seq` order survives. A group is split when a record
 * is full or a sample's event time is beyond an i32 of ms from the record's first sample.
 * Throws like `encodeTelemetryBatch` for an invalid sample; RangeError for a bad `maxSamples`.
 *
 * @example
 * const records = encodeTelemetryBatches(spooledSamples, { maxSamples: 500 });
 * for (const r of records) publish(mqttTopic('telemetry', siteId, robotId), r);
 */
export function encodeTelemetryBatches(
  samples: readonly TelemetrySample[],
  options: EncodeTelemetryBatchesOptions = {},
): Uint8Array[] {
  const maxSamples = options.maxSamples ?? MAX_BATCH_SAMPLES;
  if (!Number.isInteger(maxSamples) || maxSamples < 1 || maxSamples > MAX_BATCH_SAMPLES) {
    throw new RangeError(`maxSamples must be an integer in 1..${MAX_BATCH_SAMPLES}, got ${maxSamples}`);
  }
  const groups = new Map<string, TelemetrySample[][]>();
  for (const s of samples) {
    const key = `${s.robotId}\n${s.bootId}\n${s.siteId}`;
    let chunks = groups.get(key);
    if (chunks === undefined) {
      chunks = [];
      groups.set(key, chunks);
    }
    const current = chunks[chunks.length - 1];
    const base = current?.[0]?.eventTime;
    const offset = base === undefined ? 0 : s.eventTime - base;
    if (current === undefined || current.length >= maxSamples || offset > I32_MAX || offset < I32_MIN) {
      chunks.push([s]);
    } else {
      current.push(s);
    }
  }
  const out: Uint8Array[] = [];
  for (const chunks of groups.values()) for (const chunk of chunks) out.push(encodeTelemetryBatchV1(chunk));
  return out;
}

/**
 * Checks the envelope of a batch record and returns its layout version. Order: envelope
 * (BAD_FRAME / UNKNOWN_TYPE), record type (UNKNOWN_TYPE), version (UNKNOWN_VERSION), size (TOO_LARGE).
 */
function batchVersion(bytes: Uint8Array): number {
  const { version, recordType } = readEnvelope(bytes);
  if (recordType !== TELEMETRY_BATCH_RECORD_TYPE) {
    const kind = messageTypeCodes.names[recordType];
    throw new ProtocolError(
      ProtocolErrorCode.UNKNOWN_TYPE,
      kind === undefined
        ? `unknown record type ${hex(recordType)} (a telemetry batch is ${hex(TELEMETRY_BATCH_RECORD_TYPE)})`
        : `record type ${hex(recordType)} is a single ${kind} message, not a telemetry batch; decode it with decodeMessage`,
      { recordType },
    );
  }
  if (!TELEMETRY_BATCH_VERSIONS.includes(version)) {
    throw new ProtocolError(
      ProtocolErrorCode.UNKNOWN_VERSION,
      `telemetry batch layout version ${version} is not supported (supported: ${TELEMETRY_BATCH_VERSIONS.join(', ')})`,
      { version, supported: TELEMETRY_BATCH_VERSIONS },
    );
  }
  if (bytes.length > MAX_BATCH_BYTES) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `telemetry batch record of ${bytes.length} bytes exceeds the limit of ${MAX_BATCH_BYTES} bytes`,
      { length: bytes.length, limit: MAX_BATCH_BYTES },
    );
  }
  return version;
}

/**
 * Decodes a telemetry batch record of any supported layout version, checking every value against
 * the schema's range. Throws ProtocolError: BAD_FRAME (truncated, trailing bytes), UNKNOWN_TYPE,
 * UNKNOWN_VERSION, TOO_LARGE, INVALID_MESSAGE (naming `samples[i].field`).
 */
export function decodeTelemetryBatch(bytes: Uint8Array): TelemetryBatch {
  const version = batchVersion(bytes);
  switch (version) {
    case TELEMETRY_BATCH_V1:
      return decodeTelemetryBatchV1(bytes);
    default:
      throw new Error(`telemetry batch version ${version} is listed as supported but has no decoder`);
  }
}

/**
 * Reads the header of a batch record without decoding its rows: envelope, size, ids, count and the
 * record length are checked (so a truncated record is rejected here), row values are not.
 *
 * @example
 * const h = peekTelemetryBatchHeader(payload);
 * if (h.robotId !== topic.robotId) deadLetter(payload, 'topic and payload disagree');
 * produce(KafkaTopics.telemetry, kafkaKey(h.robotId), payload);
 */
export function peekTelemetryBatchHeader(bytes: Uint8Array): TelemetryBatchHeader {
  const version = batchVersion(bytes);
  switch (version) {
    case TELEMETRY_BATCH_V1:
      return peekTelemetryBatchHeaderV1(bytes);
    default:
      throw new Error(`telemetry batch version ${version} is listed as supported but has no decoder`);
  }
}
