import type { TelemetrySample } from '../messages.js';

/** Many samples of one robot, one boot and one site, as decoded from a telemetry batch record. */
export interface TelemetryBatch {
  /** Layout version the record was written in. */
  readonly schemaVersion: number;
  readonly robotId: string;
  readonly bootId: number;
  readonly siteId: string;
  /** In record order; every sample carries this batch's robotId, bootId and siteId. */
  readonly samples: TelemetrySample[];
}

/** What the gateway needs to route and acknowledge a batch, read without decoding its rows. */
export interface TelemetryBatchHeader {
  readonly schemaVersion: number;
  readonly robotId: string;
  readonly siteId: string;
  readonly bootId: number;
  /** Event time the per-sample offsets are relative to (the first sample's, when written by this package). */
  readonly baseEventTime: number;
  readonly count: number;
  /** `seq` of the first and the last row, in record order. */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Byte length of the whole record, which the header has checked against `count`. */
  readonly byteLength: number;
}
