/**
 * What the file-backed log reports, on Node's `diagnostics_channel` (no logger in libraries).
 *
 * @example
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * import { FILE_LOG_CHANNELS, type FileLogRecoveryEvent } from '@fleet/log';
 * diagnostics_channel.subscribe(FILE_LOG_CHANNELS.recovery, (m) => {
 *   const e = m as FileLogRecoveryEvent;
 *   if (e.truncatedBytes > 0) console.warn(`${e.topic}/${e.partition}: torn tail of ${e.truncatedBytes} bytes cut`);
 * });
 * ```
 */
import diagnostics_channel from 'node:diagnostics_channel';

export const FILE_LOG_CHANNELS = {
  /** {@link FileLogCommitEvent}: one per group commit (one fsync) of one partition. */
  commit: 'fleet:log:file:commit',
  /** {@link FileLogRecoveryEvent}: a writer (re)opened a partition and checked its tail. */
  recovery: 'fleet:log:file:recovery',
  /** {@link FileLogMaintenanceEvent}: compaction or retention ran on a partition, or failed. */
  maintenance: 'fleet:log:file:maintenance',
} as const;

export interface FileLogCommitEvent {
  readonly topic: string;
  readonly partition: number;
  /** send() calls whose records this fsync made durable. */
  readonly appends: number;
  readonly records: number;
  readonly bytes: number;
  readonly durationMs: number;
}

export interface FileLogRecoveryEvent {
  readonly topic: string;
  readonly partition: number;
  readonly segment: bigint;
  /** Whole, valid records found past the head (written, not yet published) and kept. */
  readonly adoptedRecords: number;
  /** Bytes of a torn or corrupt tail cut off. */
  readonly truncatedBytes: number;
  readonly nextOffset: bigint;
}

export interface FileLogMaintenanceEvent {
  readonly topic: string;
  readonly partition: number;
  readonly action: 'compaction' | 'retention';
  readonly segmentsRewritten: number;
  readonly segmentsDeleted: number;
  readonly recordsRemoved: number;
  readonly error?: Error;
}

export const commitChannel = diagnostics_channel.channel(FILE_LOG_CHANNELS.commit);
export const recoveryChannel = diagnostics_channel.channel(FILE_LOG_CHANNELS.recovery);
export const maintenanceChannel = diagnostics_channel.channel(FILE_LOG_CHANNELS.maintenance);
