import { join } from 'node:path';
import { LogError } from '../errors.js';
import type { LogProducer, Offset, ProducedRecord, ProduceRecord } from '../log.js';
import { choosePartition } from '../partitioning.js';
import type { ResolvedFileLogConfig } from './config.js';
import { frameSize } from './format.js';
import { toLogError } from './io.js';
import { readTopicMeta } from './partition.js';
import { acquireWriter, releaseWriter, type Framed, type PartitionWriter } from './writer.js';

/** How long a topic's partition count is trusted before topic.json is read again. */
const PARTITION_COUNT_TTL_MS = 1000;

const bytes = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/**
 * Producer of the file-backed log. send() resolves once its records are fsynced (group commit in
 * the partition writers, shared by every producer of the process). Records are routed in the
 * order of the send() calls, so records of one partition keep the call order, also across calls.
 */
export class FileLogProducer implements LogProducer {
  readonly #config: ResolvedFileLogConfig;
  readonly #writers = new Map<string, PartitionWriter>();
  readonly #counts = new Map<string, { readonly count: number; readonly at: number }>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  constructor(config: ResolvedFileLogConfig) {
    this.#config = config;
  }

  send(records: readonly ProduceRecord[]): Promise<readonly ProducedRecord[]> {
    if (this.#closed) return Promise.reject(new LogError('CLOSED', 'log producer is closed'));
    if (records.length === 0) return Promise.resolve([]);
    let appends: Promise<[number, ProducedRecord][]>[];
    try {
      const framed = records.map((record) => this.#frame(record));
      appends = this.#route(records, framed);
    } catch (error) {
      return Promise.reject(toLogError(error, 'producing records'));
    }
    const sorted = Promise.all(appends).then((shares) => {
      const parts = shares.flat();
      const out = new Array<ProducedRecord>(records.length);
      for (const [index, produced] of parts) out[index] = produced;
      return out;
    });
    this.#inFlight.add(sorted);
    void sorted.catch(() => undefined).finally(() => this.#inFlight.delete(sorted));
    return sorted;
  }

  #frame(record: ProduceRecord): Framed {
    if (typeof record.topic !== 'string' || record.topic === '') {
      throw new LogError('INVALID_ARGUMENT', 'record without topic');
    }
    if (record.value !== null && !(record.value instanceof Uint8Array)) {
      throw new LogError('INVALID_ARGUMENT', `record value for ${record.topic} is not bytes`, {
        topic: record.topic,
      });
    }
    if (record.timestamp !== undefined && !Number.isFinite(record.timestamp)) {
      throw new LogError('INVALID_ARGUMENT', `record timestamp for ${record.topic} is not a number`, {
        topic: record.topic,
      });
    }
    const input = {
      key: typeof record.key === 'string' ? Buffer.from(record.key, 'utf8') : bytes(record.key),
      value: record.value === null ? null : bytes(record.value),
      headers: Object.entries(record.headers ?? {}).map(
        ([name, value]) =>
          [
            Buffer.from(name, 'utf8'),
            typeof value === 'string' ? Buffer.from(value, 'utf8') : bytes(value),
          ] as const,
      ),
      timestamp: Math.trunc(record.timestamp ?? this.#config.now()),
    };
    const size = frameSize(input);
    if (size > this.#config.maxRecordBytes || input.headers.some(([name]) => name.byteLength > 0xffff)) {
      throw new LogError(
        'RECORD_REJECTED',
        `record for ${record.topic} is ${size} bytes framed, more than maxRecordBytes ${this.#config.maxRecordBytes}`,
        { topic: record.topic },
      );
    }
    return { ...input, size };
  }

  /**
   * Partitions the records and hands each partition's share to its writer, synchronously (topic.json
   * is read with a sync call), so the appends of successive send() calls reach the writers in the
   * order of the calls. Nothing is appended unless every record has its partition.
   */
  #route(
    records: readonly ProduceRecord[],
    framed: readonly Framed[],
  ): Promise<[number, ProducedRecord][]>[] {
    const counts = new Map<string, number>();
    for (const topic of new Set(records.map((r) => r.topic))) counts.set(topic, this.#partitionCount(topic));
    const byPartition = new Map<
      string,
      { topic: string; partition: number; indexes: number[]; framed: Framed[] }
    >();
    records.forEach((record, i) => {
      const partition = choosePartition(record, counts.get(record.topic) ?? 0);
      const key = `${record.topic}\u0000${partition}`;
      let group = byPartition.get(key);
      if (group === undefined)
        byPartition.set(key, (group = { topic: record.topic, partition, indexes: [], framed: [] }));
      group.indexes.push(i);
      group.framed.push(framed[i] as Framed);
    });
    return [...byPartition.values()].map(({ topic, partition, indexes, framed: share }) =>
      this.#writer(topic, partition)
        .append(share)
        .then(
          (first: Offset) =>
            indexes.map((index, n): [number, ProducedRecord] => [
              index,
              { topic, partition, offset: first + BigInt(n) },
            ]),
          (error: unknown) => {
            if (LogError.is(error, 'NOT_FOUND')) this.#counts.delete(topic);
            throw error;
          },
        ),
    );
  }

  #partitionCount(topic: string): number {
    const cached = this.#counts.get(topic);
    const now = Date.now();
    if (cached !== undefined && now - cached.at < PARTITION_COUNT_TTL_MS) return cached.count;
    const count = readTopicMeta(this.#config.dir, topic).partitions;
    this.#counts.set(topic, { count, at: now });
    return count;
  }

  #writer(topic: string, partition: number): PartitionWriter {
    const key = join(topic, String(partition));
    let writer = this.#writers.get(key);
    if (writer === undefined)
      this.#writers.set(key, (writer = acquireWriter(this.#config, topic, partition)));
    return writer;
  }

  /** Waits for the sends already made, then lets go of the partition writers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await Promise.all([...this.#writers.values()].map((writer) => releaseWriter(writer)));
    this.#writers.clear();
  }
}
