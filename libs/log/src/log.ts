/**
 * The partitioned log the platform runs on, as the rest of the code sees it: Kafka in production
 * and in the tests (src/kafka/), and a file-backed log for the embedded default (src/file/), both
 * behind these interfaces; both pass one shared suite (test/log-suite.ts).
 *
 * Three small parts, each handed only to the code that uses it:
 *  - {@link LogAdmin}: topics and their offsets;
 *  - {@link LogProducer}: durable writes (acks=all, idempotent, ONE shared key partitioner);
 *  - {@link LogReader}: reads from explicitly assigned partitions at offsets the caller keeps
 *    (the stream runtime stores its offsets in PostgreSQL with its checkpoints, never in Kafka).
 *
 * Consumer-group membership (which instance owns which partitions) is apart from reading: a
 * {@link GroupMember} (./group.ts) decides the assignment, the caller restores its offsets from
 * PostgreSQL and calls {@link LogReader.assign}; the reader itself never joins a group.
 */
import type { GroupMember, GroupMemberOptions } from './group.js';

/** A record key: robot ids are strings; binary keys are hashed byte for byte. */
export type RecordKey = string | Uint8Array;

/** Header values are bytes; strings are encoded as UTF-8 on write. */
export type ProduceHeaders = Readonly<Record<string, string | Uint8Array>>;
export type RecordHeaders = Readonly<Record<string, Uint8Array>>;

/** Kafka offsets are 64-bit; bigint keeps them exact (PostgreSQL `bigint`). */
export type Offset = bigint;

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  readonly offset: Offset;
}

export interface ProduceRecord {
  readonly topic: string;
  readonly key: RecordKey;
  /** null writes a tombstone: in a compacted topic it deletes the key once compaction has run. */
  readonly value: Uint8Array | null;
  readonly headers?: ProduceHeaders;
  /**
   * Explicit partition. When absent the partition is `partitionFor(key, partitionCount)` from
   * `@fleet/protocol`, the one key function every keyed topic shares, so that a robot's telemetry,
   * commands and acks land in partitions with the same number.
   */
  readonly partition?: number;
  /** Event time in ms since the epoch (the record's CreateTime); default: now. */
  readonly timestamp?: number;
}

/** Where one produced record was written. */
export type ProducedRecord = TopicPartitionOffset;

export interface LogRecord extends TopicPartitionOffset {
  /** null only for records written by other producers without a key. */
  readonly key: Uint8Array | null;
  /** null is a tombstone (deletes the key in a compacted topic). */
  readonly value: Uint8Array | null;
  readonly headers: RecordHeaders;
  /** ms since the epoch (CreateTime, or LogAppendTime if the topic says so). */
  readonly timestamp: number;
}

/** Records of one partition, in offset order, as one fetch returned them. */
export interface RecordBatch extends TopicPartition {
  readonly records: readonly LogRecord[];
  /** The offset the next read of this partition starts at (last offset + 1, past gaps). */
  readonly nextOffset: Offset;
  /** The partition's high watermark when fetched: `nextOffset === highWatermark` means caught up. */
  readonly highWatermark: Offset;
}

export interface TopicSpec {
  readonly name: string;
  /** Every keyed topic uses the platform's one partition count. */
  readonly partitions: number;
  /** `cleanup.policy=compact`: keep the last record per key (robot metadata, broadcast state). */
  readonly compacted?: boolean;
  /** Other topic configs (`retention.ms`, ...), passed through. */
  readonly config?: Readonly<Record<string, string>>;
}

export interface CreateTopicsOptions {
  /** Treat an existing topic as created (its partition count must match). Default false. */
  readonly ifNotExists?: boolean;
}

export interface LogAdmin {
  /** Resolves once every partition of every topic has a leader, i.e. is writable. */
  createTopics(topics: readonly TopicSpec[], options?: CreateTopicsOptions): Promise<void>;
  deleteTopics(topics: readonly string[]): Promise<void>;
  /** Throws `LogError` code `NOT_FOUND` for an unknown topic. */
  partitionCount(topic: string): Promise<number>;
  /** Offset of the next record to be written, per partition (index = partition). */
  endOffsets(topic: string): Promise<readonly Offset[]>;
  /** Offset of the first record still stored, per partition (index = partition). */
  beginOffsets(topic: string): Promise<readonly Offset[]>;
  close(): Promise<void>;
}

export interface LogProducer {
  /**
   * Writes the records and resolves only when the broker has acknowledged all of them with
   * acks=all; idempotent, so the client's own retries never duplicate. Records of one partition
   * keep their order, also across calls. Returns where each record went, in input order.
   *
   * A rejection (`LogError`) means none, some or all may be written: the caller retries the whole
   * call if `retriable`, and downstream dedup (robot, boot, seq) removes what was written twice.
   *
   * @example
   *   await producer.send([{ topic: TOPICS.telemetry, key: robotId, value: encodedBatch }]);
   */
  send(records: readonly ProduceRecord[]): Promise<readonly ProducedRecord[]>;
  close(): Promise<void>;
}

export interface ReaderOptions {
  /** Partitions to read and the offset to start each at. May be empty and set later by `assign`. */
  readonly assignments?: readonly TopicPartitionOffset[];
  /** Longest a `poll()` waits for new records before returning nothing. Default 500 ms. */
  readonly maxWaitMs?: number;
  /** Upper bound of one fetch, all partitions together. Default 8 MiB. */
  readonly maxBytes?: number;
  /** Upper bound per partition per fetch. Default 1 MiB. */
  readonly maxBytesPerPartition?: number;
}

export interface LogReader {
  /**
   * Replaces the whole assignment: from now on only these partitions are read, each starting at
   * its offset. The seam for consumer-group membership (a rebalance ends in an `assign`).
   */
  assign(assignments: readonly TopicPartitionOffset[]): void;
  /** Moves one assigned partition to `offset` (e.g. back to a checkpoint). */
  seek(position: TopicPartitionOffset): void;
  /** The current assignment with each partition's next offset. */
  position(): readonly TopicPartitionOffset[];
  /**
   * One round of fetches: the batches that arrived within `maxWaitMs`, possibly none (an idle
   * partition is visible as no batch). Offsets advance past what is returned. An offset outside
   * the partition's range rejects with `OFFSET_OUT_OF_RANGE`: the reader never jumps on its own.
   */
  poll(): Promise<readonly RecordBatch[]>;
  /** `poll()` in a loop, yielding only non-empty rounds, until `close()`. */
  batches(): AsyncIterable<readonly RecordBatch[]>;
  close(): Promise<void>;
}

/** One connection configuration, the three parts made from it. */
export interface Log {
  admin(): LogAdmin;
  producer(): LogProducer;
  reader(options?: ReaderOptions): LogReader;
  /**
   * A consumer-group member for partition ownership (Kafka: KIP-848). Absent where the log has no
   * group coordinator (the file-backed log).
   */
  readonly groupMember?: (options: GroupMemberOptions) => GroupMember;
}
