/**
 * Telemetry batch record, layout version 1: many samples of ONE robot, ONE boot, ONE site.
 *
 * The same bytes are the MQTT payload the agent publishes on `.../telemetry` and the Kafka record
 * value the gateway forwards after checking it, so the gateway never re-encodes: it peeks the header
 * (routing, key, acknowledgement), validates, and passes the bytes on.
 *
 * Little-endian. Header, 18 + R + S bytes; the fixed fields come first so `peek` reads them at
 * constant offsets:
 *
 *   offset     size  field
 *   0          1     magic 0xFB
 *   1          1     layout version = 1
 *   2          1     record type 0x01 (telemetry batch)
 *   3          1     flags; v1 defines none and a reader rejects any set bit, so a later flag that
 *                    changes the meaning of the rows can never be misread by a v1 reader
 *   4          2     count u16, 1..MAX_BATCH_SAMPLES
 *   6          4     bootId u32
 *   10         6     baseEventTime u48, ms since the epoch, <= MAX_EPOCH_MS; the writer uses the
 *                    first sample's event time
 *   16         1     R = robotId byte length
 *   17         R     robotId, ASCII (ID_PATTERN)
 *   17+R       1     S = siteId byte length
 *   18+R       S     siteId, ASCII (ID_PATTERN)
 *   18+R+S           count rows of 38 bytes; the record ends exactly after the last row
 *
 * Row, 38 bytes, every field at its natural width so every value of the schema fits exactly:
 *
 *   0   4  seq u32
 *   4   4  eventTime - baseEventTime, i32 ms (a batch spans at most ±24.8 days around its base)
 *   8   2  voltageMv u16
 *   10  4  currentMa i32
 *   14  2  socPermille u16, <= 1000
 *   16  2  batteryTempDeciC i16
 *   18  2  cycleCount u16
 *   20  4  xMm i32
 *   24  4  yMm i32
 *   28  2  headingCdeg u16, <= 35999
 *   30  2  speedMmS i16
 *   32  1  dirtLevel u8
 *   33  1  mode u8, code from `robotModeCodes` (0..5)
 *   34  4  errorFlags u32
 *
 * Ranges: fields whose schema range is their whole wire width need no check on decode; only
 * eventTime (base + offset within 0..MAX_EPOCH_MS), socPermille, headingCdeg and mode do, plus the
 * id patterns once per record. The encoder checks every field (a DataView write would wrap).
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { MAX_BATCH_SAMPLES } from '../limits.js';
import type { TelemetrySample } from '../messages.js';
import { ID_PATTERN, MAX_EPOCH_MS, type RobotMode } from '../rules.js';
import { robotModeCodes } from '../binary/codes.js';
import {
  invalidValue,
  readLatin1,
  readU48,
  truncated,
  viewOf,
  WIRE_MAGIC,
  writeAscii,
  writeU48,
  TELEMETRY_BATCH_RECORD_TYPE,
} from '../binary/wire.js';
import type { TelemetryBatch, TelemetryBatchHeader } from './types.js';

export const TELEMETRY_BATCH_V1 = 1;
export const TELEMETRY_BATCH_V1_FIXED_HEADER_BYTES = 16;
export const TELEMETRY_BATCH_V1_ROW_BYTES = 38;
/** Largest v1 record: 4 + 12 fixed header bytes, two ids of 1 + 64, and MAX_BATCH_SAMPLES rows. */
export const TELEMETRY_BATCH_V1_MAX_BYTES =
  TELEMETRY_BATCH_V1_FIXED_HEADER_BYTES + 2 * (1 + 64) + MAX_BATCH_SAMPLES * TELEMETRY_BATCH_V1_ROW_BYTES;

const HEADING_MAX = 35999;
const SOC_MAX = 1000;
const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;
const MODES: readonly (RobotMode | undefined)[] = robotModeCodes.names;

/**
 * Encodes samples of one robot, boot and site. Every value is checked against the schema's range
 * (INVALID_MESSAGE naming `samples[i].field`); samples that disagree on robotId, bootId or siteId,
 * or whose event time lies more than an i32 of ms from the first sample's, are rejected too
 * (`encodeTelemetryBatches` splits such input instead). More than MAX_BATCH_SAMPLES is TOO_LARGE.
 */
export function encodeTelemetryBatchV1(samples: readonly TelemetrySample[]): Uint8Array {
  const first = samples[0];
  if (first === undefined) throw invalidValue('samples', 'a telemetry batch needs at least one sample');
  const count = samples.length;
  if (count > MAX_BATCH_SAMPLES) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `telemetry batch of ${count} samples exceeds the limit of ${MAX_BATCH_SAMPLES}`,
      {
        count,
        limit: MAX_BATCH_SAMPLES,
      },
    );
  }
  const { robotId, siteId, bootId } = first;
  checkId(robotId, 'samples[0].robotId');
  checkId(siteId, 'samples[0].siteId');
  if (bootId >>> 0 !== bootId) throw outOfRange('samples[0].bootId', bootId, '0..4294967295');
  const base = first.eventTime;
  if (!isEpochMs(base)) throw outOfRange('samples[0].eventTime', base, `0..${MAX_EPOCH_MS}`);

  const R = robotId.length;
  const S = siteId.length;
  const rowsAt = 18 + R + S;
  const bytes = new Uint8Array(rowsAt + count * TELEMETRY_BATCH_V1_ROW_BYTES);
  const view = viewOf(bytes);
  bytes[0] = WIRE_MAGIC;
  bytes[1] = TELEMETRY_BATCH_V1;
  bytes[2] = TELEMETRY_BATCH_RECORD_TYPE;
  bytes[3] = 0;
  view.setUint16(4, count, true);
  view.setUint32(6, bootId, true);
  writeU48(view, 10, base);
  bytes[16] = R;
  writeAscii(bytes, 17, robotId);
  bytes[17 + R] = S;
  writeAscii(bytes, 18 + R, siteId);

  let o = rowsAt;
  for (let i = 0; i < count; i++, o += TELEMETRY_BATCH_V1_ROW_BYTES) {
    const s = samples[i] as TelemetrySample;
    if (s.robotId !== robotId || s.siteId !== siteId || s.bootId !== bootId) throw disagreement(s, i, first);
    const offset = s.eventTime - base;
    const mode = robotModeCodes.lookup(s.mode);
    if (
      s.kind !== 'telemetry' ||
      s.seq >>> 0 !== s.seq ||
      !isEpochMs(s.eventTime) ||
      (offset | 0) !== offset ||
      (s.voltageMv & 0xffff) !== s.voltageMv ||
      (s.currentMa | 0) !== s.currentMa ||
      !isIntIn(s.socPermille, 0, SOC_MAX) ||
      (s.batteryTempDeciC << 16) >> 16 !== s.batteryTempDeciC ||
      (s.cycleCount & 0xffff) !== s.cycleCount ||
      (s.xMm | 0) !== s.xMm ||
      (s.yMm | 0) !== s.yMm ||
      !isIntIn(s.headingCdeg, 0, HEADING_MAX) ||
      (s.speedMmS << 16) >> 16 !== s.speedMmS ||
      (s.dirtLevel & 0xff) !== s.dirtLevel ||
      mode === undefined ||
      s.errorFlags >>> 0 !== s.errorFlags
    ) {
      throw sampleError(s, i, base);
    }
    view.setUint32(o, s.seq, true);
    view.setInt32(o + 4, offset, true);
    view.setUint16(o + 8, s.voltageMv, true);
    view.setInt32(o + 10, s.currentMa, true);
    view.setUint16(o + 14, s.socPermille, true);
    view.setInt16(o + 16, s.batteryTempDeciC, true);
    view.setUint16(o + 18, s.cycleCount, true);
    view.setInt32(o + 20, s.xMm, true);
    view.setInt32(o + 24, s.yMm, true);
    view.setUint16(o + 28, s.headingCdeg, true);
    view.setInt16(o + 30, s.speedMmS, true);
    bytes[o + 32] = s.dirtLevel;
    bytes[o + 33] = mode;
    view.setUint32(o + 34, s.errorFlags, true);
  }
  return bytes;
}

interface HeaderV1 {
  readonly robotId: string;
  readonly siteId: string;
  readonly bootId: number;
  readonly baseEventTime: number;
  readonly count: number;
  readonly rowsAt: number;
}

/**
 * Reads and checks the header and the record length. The caller has checked the envelope and the
 * byte limit. Structure comes first (a truncated record is always BAD_FRAME), then values.
 */
function readHeaderV1(bytes: Uint8Array, view: DataView): HeaderV1 {
  const length = bytes.length;
  if (length < 17) throw truncated('header', 0, 17, length);
  const R = bytes[16] as number;
  if (length < 18 + R) throw truncated('robotId', 17, R + 1, length - 17);
  const S = bytes[17 + R] as number;
  const rowsAt = 18 + R + S;
  if (length < rowsAt) throw truncated('siteId', 18 + R, S, length - 18 - R);

  const flags = bytes[3] as number;
  if (flags !== 0)
    throw invalidValue('flags', `unknown flag bits 0x${flags.toString(16)} (layout v1 defines none)`, {
      flags,
    });
  const count = view.getUint16(4, true);
  if (count === 0) throw invalidValue('count', 'a telemetry batch needs at least one sample');
  if (count > MAX_BATCH_SAMPLES) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `telemetry batch of ${count} samples exceeds the limit of ${MAX_BATCH_SAMPLES}`,
      {
        count,
        limit: MAX_BATCH_SAMPLES,
      },
    );
  }
  const expected = rowsAt + count * TELEMETRY_BATCH_V1_ROW_BYTES;
  if (length < expected) {
    throw truncated(
      `rows (${count} of ${TELEMETRY_BATCH_V1_ROW_BYTES} bytes)`,
      rowsAt,
      expected - rowsAt,
      length - rowsAt,
    );
  }
  if (length > expected) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_FRAME,
      `record has ${length - expected} trailing bytes after its ${count} rows`,
      {
        length,
        expected,
      },
    );
  }

  const robotId = readLatin1(bytes, 17, R);
  const siteId = readLatin1(bytes, 18 + R, S);
  checkId(robotId, 'robotId');
  checkId(siteId, 'siteId');
  const baseEventTime = readU48(view, 10);
  if (baseEventTime > MAX_EPOCH_MS) throw outOfRange('baseEventTime', baseEventTime, `0..${MAX_EPOCH_MS}`);
  return { robotId, siteId, bootId: view.getUint32(6, true), baseEventTime, count, rowsAt };
}

export function peekTelemetryBatchHeaderV1(bytes: Uint8Array): TelemetryBatchHeader {
  const view = viewOf(bytes);
  const h = readHeaderV1(bytes, view);
  return {
    schemaVersion: TELEMETRY_BATCH_V1,
    robotId: h.robotId,
    siteId: h.siteId,
    bootId: h.bootId,
    baseEventTime: h.baseEventTime,
    count: h.count,
    firstSeq: view.getUint32(h.rowsAt, true),
    lastSeq: view.getUint32(h.rowsAt + (h.count - 1) * TELEMETRY_BATCH_V1_ROW_BYTES, true),
    byteLength: bytes.length,
  };
}

/**
 * The hot path: one fixed-shape object literal per row, DataView reads at constant offsets, and four
 * integer comparisons for the fields whose range is narrower than their width. The detailed error
 * is built only on failure, by `rowError`.
 */
export function decodeTelemetryBatchV1(bytes: Uint8Array): TelemetryBatch {
  const view = viewOf(bytes);
  const { robotId, siteId, bootId, baseEventTime: base, count, rowsAt } = readHeaderV1(bytes, view);
  const samples: TelemetrySample[] = [];
  let o = rowsAt;
  for (let i = 0; i < count; i++, o += TELEMETRY_BATCH_V1_ROW_BYTES) {
    const eventTime = base + view.getInt32(o + 4, true);
    const socPermille = view.getUint16(o + 14, true);
    const headingCdeg = view.getUint16(o + 28, true);
    const mode = MODES[view.getUint8(o + 33)];
    if (
      eventTime < 0 ||
      eventTime > MAX_EPOCH_MS ||
      socPermille > SOC_MAX ||
      headingCdeg > HEADING_MAX ||
      mode === undefined
    ) {
      throw rowError(view, o, i, base);
    }
    samples.push({
      kind: 'telemetry',
      robotId,
      bootId,
      seq: view.getUint32(o, true),
      eventTime,
      voltageMv: view.getUint16(o + 8, true),
      currentMa: view.getInt32(o + 10, true),
      socPermille,
      batteryTempDeciC: view.getInt16(o + 16, true),
      cycleCount: view.getUint16(o + 18, true),
      siteId,
      xMm: view.getInt32(o + 20, true),
      yMm: view.getInt32(o + 24, true),
      headingCdeg,
      speedMmS: view.getInt16(o + 30, true),
      dirtLevel: view.getUint8(o + 32),
      mode,
      errorFlags: view.getUint32(o + 34, true),
    });
  }
  return { schemaVersion: TELEMETRY_BATCH_V1, robotId, bootId, siteId, samples };
}

function rowError(view: DataView, o: number, i: number, base: number): ProtocolError {
  const offset = view.getInt32(o + 4, true);
  const eventTime = base + offset;
  if (eventTime < 0 || eventTime > MAX_EPOCH_MS) {
    return outOfRange(`samples[${i}].eventTime`, eventTime, `0..${MAX_EPOCH_MS}`, {
      sampleIndex: i,
      baseEventTime: base,
      offset,
    });
  }
  const soc = view.getUint16(o + 14, true);
  if (soc > SOC_MAX) return outOfRange(`samples[${i}].socPermille`, soc, `0..${SOC_MAX}`, { sampleIndex: i });
  const heading = view.getUint16(o + 28, true);
  if (heading > HEADING_MAX)
    return outOfRange(`samples[${i}].headingCdeg`, heading, `0..${HEADING_MAX}`, { sampleIndex: i });
  const code = view.getUint8(o + 33);
  return invalidValue(`samples[${i}].mode`, `unknown mode code ${code}`, { code, sampleIndex: i });
}

function isEpochMs(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= MAX_EPOCH_MS;
}

function isIntIn(v: number, min: number, max: number): boolean {
  return (v | 0) === v && v >= min && v <= max;
}

function checkId(id: string, field: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw invalidValue(field, `${JSON.stringify(id)} does not match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}`);
  }
}

function outOfRange(
  field: string,
  value: unknown,
  range: string,
  details: Readonly<Record<string, unknown>> = {},
): ProtocolError {
  return invalidValue(field, `${String(value)} is not an integer in ${range}`, { value, ...details });
}

function disagreement(s: TelemetrySample, i: number, first: TelemetrySample): ProtocolError {
  const field = s.robotId !== first.robotId ? 'robotId' : s.siteId !== first.siteId ? 'siteId' : 'bootId';
  return invalidValue(
    `samples[${i}].${field}`,
    `${JSON.stringify(s[field])} differs from samples[0].${field} ${JSON.stringify(first[field])}: a batch holds one robot, one boot and one site`,
    { sampleIndex: i },
  );
}

/** Names the first field of sample `i` that breaks its schema range; only called when one does. */
function sampleError(s: TelemetrySample, i: number, base: number): ProtocolError {
  const at = (field: string) => `samples[${i}].${field}`;
  if (s.kind !== 'telemetry')
    return invalidValue(at('kind'), `expected "telemetry", got ${JSON.stringify(s.kind)}`);
  if (s.seq >>> 0 !== s.seq) return outOfRange(at('seq'), s.seq, '0..4294967295', { sampleIndex: i });
  if (!isEpochMs(s.eventTime))
    return outOfRange(at('eventTime'), s.eventTime, `0..${MAX_EPOCH_MS}`, { sampleIndex: i });
  const offset = s.eventTime - base;
  if ((offset | 0) !== offset) {
    return invalidValue(
      at('eventTime'),
      `${s.eventTime} is ${offset} ms from the batch base ${base}, beyond the i32 offset range ${I32_MIN}..${I32_MAX}; encodeTelemetryBatches splits such input`,
      { sampleIndex: i, baseEventTime: base, offset },
    );
  }
  const i32 = '-2147483648..2147483647';
  const i16 = '-32768..32767';
  const checks: readonly [keyof TelemetrySample, boolean, string][] = [
    ['voltageMv', (s.voltageMv & 0xffff) === s.voltageMv, '0..65535'],
    ['currentMa', (s.currentMa | 0) === s.currentMa, i32],
    ['socPermille', isIntIn(s.socPermille, 0, SOC_MAX), `0..${SOC_MAX}`],
    ['batteryTempDeciC', (s.batteryTempDeciC << 16) >> 16 === s.batteryTempDeciC, i16],
    ['cycleCount', (s.cycleCount & 0xffff) === s.cycleCount, '0..65535'],
    ['xMm', (s.xMm | 0) === s.xMm, i32],
    ['yMm', (s.yMm | 0) === s.yMm, i32],
    ['headingCdeg', isIntIn(s.headingCdeg, 0, HEADING_MAX), `0..${HEADING_MAX}`],
    ['speedMmS', (s.speedMmS << 16) >> 16 === s.speedMmS, i16],
    ['dirtLevel', (s.dirtLevel & 0xff) === s.dirtLevel, '0..255'],
  ];
  for (const [field, ok, range] of checks)
    if (!ok) return outOfRange(at(field), s[field], range, { sampleIndex: i });
  if (robotModeCodes.lookup(s.mode) === undefined) {
    return invalidValue(at('mode'), `unknown mode ${JSON.stringify(s.mode)}`, { sampleIndex: i });
  }
  return outOfRange(at('errorFlags'), s.errorFlags, '0..4294967295', { sampleIndex: i });
}
