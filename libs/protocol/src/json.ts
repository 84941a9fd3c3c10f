/**
 * JSON form of the payloads, for debugging (mosquitto_pub, curl) and tests. Binary is the default
 * on the wire; JSON is checked with the zod schemas (built on the first JSON payload), the binary codecs
 * with the equivalent hand-written checks, so both accept exactly the same values.
 *
 * Accepted documents (UTF-8, at most MAX_JSON_BYTES):
 *   - any single message: `{ "kind": "command", ... }` (see messages.ts)
 *   - a telemetry batch: `{ "kind": "telemetry_batch", "samples": [ <telemetry>, ... ] }`
 *   - the same batch written as a bare array of samples: `[ <telemetry>, ... ]` (error paths are
 *     reported as if it were the object form: `samples[3].socPermille`)
 * A batch holds 1..MAX_BATCH_SAMPLES samples of one robot, one boot and one site.
 */
import { z } from 'zod';
import type { TelemetryBatch } from './batch/types.js';
import { TELEMETRY_BATCH_VERSION } from './batch/index.js';
import { invalidValue } from './binary/wire.js';
import { validated } from './binary/validate.js';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { MAX_BATCH_SAMPLES, MAX_JSON_BYTES } from './limits.js';
import type { Message, TelemetrySample } from './messages.js';
import { messageSchemas } from './schemas.js';

export const TELEMETRY_BATCH_JSON_KIND = 'telemetry_batch';

function buildBatchSchema() {
  return z.strictObject({
    kind: z.literal(TELEMETRY_BATCH_JSON_KIND),
    samples: z.array(messageSchemas().telemetrySampleSchema).min(1).max(MAX_BATCH_SAMPLES),
  });
}
let batchSchema: ReturnType<typeof buildBatchSchema> | undefined;
/** Built on first use, like the message schemas (schemas.ts). */
function batchJsonSchema(): ReturnType<typeof buildBatchSchema> {
  return (batchSchema ??= buildBatchSchema());
}

/** The JSON document of a telemetry batch. */
export const telemetryBatchJsonSchema = /* @__PURE__ */ batchJsonSchema();

/** A decoded payload: one telemetry batch, or one single message. */
export type DecodedJson =
  { type: 'telemetry_batch'; batch: TelemetryBatch } | { type: 'message'; message: Message };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * UTF-8 JSON of a single message, after checking it against its schema (INVALID_MESSAGE).
 *
 * @example
 * encodeJson({ kind: 'presence', robotId: 'r-1', online: false, reason: 'last_will', at: 0 });
 */
export function encodeJson(msg: Message): Uint8Array {
  return encoder.encode(JSON.stringify(validated(messageSchemas().messageSchema, msg, msg.kind)));
}

/** UTF-8 JSON of a telemetry batch, `{ "kind": "telemetry_batch", "samples": [...] }`. */
export function encodeTelemetryBatchJson(samples: readonly TelemetrySample[]): Uint8Array {
  const doc = validated(batchJsonSchema(), { kind: TELEMETRY_BATCH_JSON_KIND, samples }, 'telemetry_batch');
  batchOf(doc.samples);
  return encoder.encode(JSON.stringify(doc));
}

/**
 * Parses and validates a JSON payload. Throws TOO_LARGE above MAX_JSON_BYTES or MAX_BATCH_SAMPLES,
 * INVALID_MESSAGE for malformed UTF-8 or JSON and for schema violations (the message lists each
 * failing path, e.g. `samples[3].socPermille: Too big: expected number to be <=1000`).
 */
export function decodeJson(bytes: Uint8Array): DecodedJson {
  if (bytes.length > MAX_JSON_BYTES) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `JSON payload of ${bytes.length} bytes exceeds the limit of ${MAX_JSON_BYTES} bytes`,
      { length: bytes.length, limit: MAX_JSON_BYTES },
    );
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw invalidValue('(root)', 'JSON payload is not valid UTF-8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidValue('(root)', `payload is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (Array.isArray(doc)) doc = { kind: TELEMETRY_BATCH_JSON_KIND, samples: doc };
  if (isRecord(doc) && doc['kind'] === TELEMETRY_BATCH_JSON_KIND) {
    const samples = doc['samples'];
    if (Array.isArray(samples)) checkBatchCount(samples.length);
    return {
      type: 'telemetry_batch',
      batch: batchOf(validated(batchJsonSchema(), doc, 'telemetry_batch').samples),
    };
  }
  return { type: 'message', message: validated(messageSchemas().messageSchema, doc, 'message') };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function checkBatchCount(count: number): void {
  if (count > MAX_BATCH_SAMPLES) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `telemetry batch of ${count} samples exceeds the limit of ${MAX_BATCH_SAMPLES}`,
      { count, limit: MAX_BATCH_SAMPLES },
    );
  }
}

/** Builds the batch from schema-valid samples, requiring one robot, boot and site throughout. */
function batchOf(samples: TelemetrySample[]): TelemetryBatch {
  const first = samples[0];
  if (first === undefined) throw invalidValue('samples', 'a telemetry batch needs at least one sample');
  samples.forEach((s, i) => {
    for (const field of ['robotId', 'bootId', 'siteId'] as const) {
      if (s[field] !== first[field]) {
        throw invalidValue(
          `samples[${i}].${field}`,
          `${JSON.stringify(s[field])} differs from samples[0].${field} ${JSON.stringify(first[field])}: a batch holds one robot, one boot and one site`,
          { sampleIndex: i },
        );
      }
    }
  });
  return {
    schemaVersion: TELEMETRY_BATCH_VERSION,
    robotId: first.robotId,
    bootId: first.bootId,
    siteId: first.siteId,
    samples,
  };
}
