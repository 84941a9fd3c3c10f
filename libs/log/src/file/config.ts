/** Where the file-backed log keeps its topics, and its tunables. Built once by the app, frozen. */
export interface FileLogConfig {
  /** Root folder; created if missing. One folder per topic below it. */
  readonly dir: string;
  /**
   * A partition's active segment is closed and a new one begun once it holds this many bytes.
   * Topic config `segment.bytes` overrides it per topic. Default 64 MiB.
   */
  readonly segmentBytes?: number;
  /** Bytes between two sparse index entries. Default 4096. */
  readonly indexIntervalBytes?: number;
  /**
   * Largest framed record accepted by `send()`; a larger one is refused as RECORD_REJECTED (poison),
   * like a broker's `message.max.bytes`. Default 1 MiB + 12 bytes, Kafka's default.
   */
  readonly maxRecordBytes?: number;
  /**
   * How often a waiting `poll()` looks for records appended by other processes (records appended
   * in this process wake it at once). Default 20 ms.
   */
  readonly pollIntervalMs?: number;
  /** Longest a write waits for another process's partition lock; then a retriable TIMEOUT. Default 30 s. */
  readonly lockTimeoutMs?: number;
  /** Clock for default record timestamps and time-based retention. Default Date.now. */
  readonly now?: () => number;
}

export interface ResolvedFileLogConfig {
  readonly dir: string;
  readonly segmentBytes: number;
  readonly indexIntervalBytes: number;
  readonly maxRecordBytes: number;
  readonly pollIntervalMs: number;
  readonly lockTimeoutMs: number;
  readonly now: () => number;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`FileLogConfig.${name} must be a positive integer`);
  return value;
}

export function resolveConfig(config: FileLogConfig, dir: string): ResolvedFileLogConfig {
  return Object.freeze({
    dir,
    segmentBytes: positiveInteger('segmentBytes', config.segmentBytes, 64 * 1024 * 1024),
    indexIntervalBytes: positiveInteger('indexIntervalBytes', config.indexIntervalBytes, 4096),
    maxRecordBytes: positiveInteger('maxRecordBytes', config.maxRecordBytes, 1024 * 1024 + 12),
    pollIntervalMs: positiveInteger('pollIntervalMs', config.pollIntervalMs, 20),
    lockTimeoutMs: positiveInteger('lockTimeoutMs', config.lockTimeoutMs, 30_000),
    now: config.now ?? Date.now,
  });
}
