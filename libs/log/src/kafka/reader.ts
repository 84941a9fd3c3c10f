import { Consumer, FetchIsolationLevels, type ClusterMetadata, type RecordsBatch } from '@platformatic/kafka';
import { LogError } from '../errors.js';
import type {
  LogReader,
  LogRecord,
  Offset,
  ReaderOptions,
  RecordBatch,
  RecordHeaders,
  TopicPartitionOffset,
} from '../log.js';
import { clientOptions, type KafkaLogConfig } from './config.js';
import { toLogError } from './errors.js';
import { Positions, positionKey } from '../positions.js';

/** Record batch attributes (Kafka protocol, "Record Batch"): bit 3 timestamp type, bit 5 control. */
const LOG_APPEND_TIME = 0x08;
const CONTROL_BATCH = 0x20;

/** The reader never joins a group; the client insists on a group id all the same. */
const NO_GROUP = 'fleet-log-reader-without-group';

type FetchRequestTopic = Parameters<Consumer['fetch']>[0]['topics'][number];
type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

/**
 * Reads explicitly assigned partitions at caller-owned offsets with Fetch requests, one per leader
 * broker per round, through @platformatic/kafka's low-level `Consumer.fetch` (no group).
 * Isolation is READ_COMMITTED: records of open transactions are not returned.
 */
export class KafkaLogReader implements LogReader {
  readonly #consumer: Consumer;
  readonly #positions = new Positions();
  readonly #maxWaitMs: number;
  readonly #maxBytes: number;
  readonly #maxBytesPerPartition: number;
  #polling = false;
  #closed = false;

  constructor(config: KafkaLogConfig, options: ReaderOptions = {}) {
    this.#consumer = new Consumer({ ...clientOptions(config, 'reader'), groupId: NO_GROUP });
    this.#maxWaitMs = options.maxWaitMs ?? 500;
    this.#maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.#maxBytesPerPartition = options.maxBytesPerPartition ?? 1024 * 1024;
    this.assign(options.assignments ?? []);
  }

  assign(assignments: readonly TopicPartitionOffset[]): void {
    this.#open();
    this.#positions.assign(assignments);
  }

  seek(position: TopicPartitionOffset): void {
    this.#open();
    this.#positions.seek(position);
  }

  position(): readonly TopicPartitionOffset[] {
    return this.#positions.list();
  }

  async poll(): Promise<readonly RecordBatch[]> {
    this.#open();
    if (this.#polling)
      throw new LogError('INVALID_ARGUMENT', 'poll() called while another poll() is running');
    if (this.#positions.size === 0) {
      await new Promise((resolve) => setTimeout(resolve, this.#maxWaitMs));
      return [];
    }
    this.#polling = true;
    try {
      const positions = [...this.#positions.values()].map((p) => ({ ...p }));
      const topics = [...new Set(positions.map((p) => p.topic))];
      let metadata: ClusterMetadata;
      try {
        metadata = await this.#consumer.metadata({ topics });
      } catch (error) {
        throw toLogError(error, `reading metadata of ${topics.join(', ')}`);
      }

      // One Fetch per leader broker, all of its partitions in it.
      const byLeader = new Map<number, Map<string, FetchRequestTopic>>();
      const topicNames = new Map<string, string>();
      for (const p of positions) {
        const topic = metadata.topics.get(p.topic);
        const partition = topic?.partitions[p.partition];
        if (topic === undefined || partition === undefined) {
          throw new LogError('NOT_FOUND', `unknown topic or partition ${p.topic}/${p.partition}`, p);
        }
        if (partition.leader < 0) {
          this.#consumer.clearMetadata();
          throw new LogError('BROKER_RETRIABLE', `${p.topic}/${p.partition} has no leader right now`, p);
        }
        topicNames.set(topic.id, p.topic);
        let requests = byLeader.get(partition.leader);
        if (requests === undefined) byLeader.set(partition.leader, (requests = new Map()));
        let request = requests.get(topic.id);
        if (request === undefined) requests.set(topic.id, (request = { topicId: topic.id, partitions: [] }));
        request.partitions.push({
          partition: p.partition,
          fetchOffset: p.offset,
          // -1: no leader-epoch fencing; offsets come from our own checkpoints, not from this leader.
          currentLeaderEpoch: -1,
          lastFetchedEpoch: -1,
          partitionMaxBytes: this.#maxBytesPerPartition,
        });
      }

      const responses = await Promise.all(
        [...byLeader].map(async ([node, requests]) => {
          try {
            return await this.#consumer.fetch({
              node,
              topics: [...requests.values()],
              maxWaitTime: this.#maxWaitMs,
              minBytes: 1,
              maxBytes: this.#maxBytes,
              isolationLevel: FetchIsolationLevels.READ_COMMITTED,
            });
          } catch (error) {
            throw this.#fetchError(error, topicNames);
          }
        }),
      );

      const requested = new Map(positions.map((p) => [positionKey(p.topic, p.partition), p]));
      const batches: RecordBatch[] = [];
      for (const response of responses) {
        for (const t of response.responses) {
          const topic = topicNames.get(t.topicId);
          if (topic === undefined) continue;
          for (const part of t.partitions) {
            const key = positionKey(topic, part.partitionIndex);
            const asked = requested.get(key);
            const live = this.#positions.get(key);
            // Reassigned or moved by seek() while this fetch ran: its records are for the old offset.
            if (asked === undefined || live === undefined || live.generation !== asked.generation) continue;
            const batch = toRecordBatch(
              topic,
              part.partitionIndex,
              asked.offset,
              part.highWatermark,
              part.records ?? [],
            );
            if (batch === undefined) continue;
            live.offset = batch.nextOffset;
            if (batch.records.length > 0) batches.push(batch);
          }
        }
      }
      return batches;
    } finally {
      this.#polling = false;
    }
  }

  async *batches(): AsyncIterable<readonly RecordBatch[]> {
    while (!this.#closed) {
      const round = await this.poll();
      if (round.length > 0) yield round;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#polling) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.#consumer.close(true);
  }

  /** Names the partition of a per-partition Fetch error (the client reports topic ids and paths). */
  #fetchError(error: unknown, topicNames: ReadonlyMap<string, string>): LogError {
    const response = (error as { response?: FetchResponse } | null)?.response;
    for (const t of response?.responses ?? []) {
      for (const p of t.partitions) {
        if (p.errorCode === 0) continue;
        const topic = topicNames.get(t.topicId) ?? t.topicId;
        const mapped = toLogError(error, `fetching ${topic}/${p.partitionIndex}`, {
          topic,
          partition: p.partitionIndex,
        });
        if (mapped.retriable) this.#consumer.clearMetadata();
        return mapped;
      }
    }
    const mapped = toLogError(error, 'fetching records');
    if (mapped.retriable) this.#consumer.clearMetadata();
    return mapped;
  }

  #open(): void {
    if (this.#closed) throw new LogError('CLOSED', 'log reader is closed');
  }
}

/**
 * Turns the record batches of one partition into a RecordBatch. A fetch answers from the start of
 * the on-disk batch that holds `from`, so records before it are dropped; control batches
 * (transaction markers) and compaction gaps only move the next offset.
 */
function toRecordBatch(
  topic: string,
  partition: number,
  from: Offset,
  highWatermark: Offset,
  wire: readonly RecordsBatch[],
): RecordBatch | undefined {
  if (wire.length === 0) return undefined;
  const records: LogRecord[] = [];
  let nextOffset = from;
  for (const batch of wire) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    if (last + 1n > nextOffset) nextOffset = last + 1n;
    if ((batch.attributes & CONTROL_BATCH) !== 0) continue;
    const logAppendTime = (batch.attributes & LOG_APPEND_TIME) !== 0;
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta);
      if (offset < from) continue;
      const headers: Record<string, Uint8Array> = {};
      for (const [name, value] of record.headers) {
        if (name !== null) headers[name.toString('utf8')] = value ?? new Uint8Array(0);
      }
      records.push({
        topic,
        partition,
        offset,
        key: record.key,
        value: record.value,
        headers: headers as RecordHeaders,
        timestamp: Number(logAppendTime ? batch.maxTimestamp : batch.firstTimestamp + record.timestampDelta),
      });
    }
  }
  return { topic, partition, records, nextOffset, highWatermark };
}
