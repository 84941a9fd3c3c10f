/**
 * The agent's durable spool: every record is on disk before it is published, and leaves only after
 * the broker acknowledged it (PUBACK). This file is the contract; `file-spool.ts` implements it.
 *
 * Records are kept per class, each class in arrival order:
 * - `telemetry`: samples; when the spool is full the OLDEST telemetry is dropped first (counted);
 * - `priority`: robot events and command acks; never dropped to make room — when the spool is full
 *   of them, `append` of a priority record still succeeds up to a separate hard cap, and telemetry
 *   `append` is refused with `SpoolError('SPOOL_FULL')` only if no telemetry is left to drop.
 */

export type SpoolClass = 'telemetry' | 'priority';

export interface SpoolRecord {
  /** Unique, increasing in append order across both classes; survives restarts. */
  readonly id: bigint;
  readonly cls: SpoolClass;
  /** Opaque bytes (the agent stores `encodeMessage(...)` of a sample, event or ack). */
  readonly payload: Uint8Array;
}

export interface SpoolStats {
  /** Records appended and not yet acknowledged (nor dropped), per class. */
  readonly records: { readonly telemetry: number; readonly priority: number };
  /**
   * Bytes the spool counts against `maxBytes` (for the file spool: record bytes in segment files
   * still on disk, including acknowledged records whose segment is not deleted yet).
   */
  readonly bytes: number;
  readonly maxBytes: number;
  /** Telemetry records dropped because the spool was full, since the spool was created (persisted). */
  readonly droppedTelemetry: number;
  /**
   * Records lost to corruption since the spool was created (persisted): a torn tail cut off on
   * open counts as one, a record that no longer reads back as written counts as one. Optional:
   * a spool without a medium that can tear (in memory) leaves it out.
   */
  readonly corruptRecords?: number;
  /** Records appended since this spool was opened. */
  readonly appended: number;
  /** Records acknowledged since this spool was opened. */
  readonly acknowledged: number;
}

export interface Spool {
  /**
   * Appends one record. Resolves when it is as durable as the fsync policy promises (see
   * file-spool.ts): with `fsync: 'always'` it is on stable storage; with any policy it survives
   * kill -9 of the agent once resolved.
   */
  append(cls: SpoolClass, payload: Uint8Array): Promise<SpoolRecord>;
  /** Appends many records of one class with one durability wait (group commit). */
  appendMany(cls: SpoolClass, payloads: readonly Uint8Array[]): Promise<readonly SpoolRecord[]>;
  /**
   * Up to `max` unacknowledged records of a class, oldest first, starting after `afterId` when
   * given (so a publisher can have several batches in flight).
   */
  peek(cls: SpoolClass, max: number, afterId?: bigint): Promise<readonly SpoolRecord[]>;
  /** Removes records whose publication the broker acknowledged; ids may arrive in any order. */
  ack(ids: readonly bigint[]): Promise<void>;
  /**
   * The durability barrier: resolves once every record whose append resolved before this call
   * would survive a power loss. `true` then; `false` when the spool cannot promise that (the file
   * spool with `fsync: 'never'`, or an fsync that failed). What is kept next to the spool and
   * describes its content (the agent's serial position) waits for it, so that it is never ahead of
   * what the disk holds after a power loss. Rejects only with SPOOL_CLOSED.
   */
  durable(): Promise<boolean>;
  stats(): SpoolStats;
  close(): Promise<void>;
}

export class SpoolError extends Error {
  override readonly name: string = 'SpoolError';
  constructor(
    readonly code: 'SPOOL_FULL' | 'SPOOL_CORRUPT' | 'SPOOL_IO' | 'SPOOL_CLOSED',
    message: string,
    readonly retriable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
