import { Producer, ProduceAcks } from '@platformatic/kafka';
import { LogError } from '../errors.js';
import type { LogProducer, ProducedRecord, ProduceRecord } from '../log.js';
import { choosePartition } from '../partitioning.js';
import { clientOptions, type KafkaLogConfig } from './config.js';
import { toLogError } from './errors.js';

/** Records one broker request may carry when concurrent send() calls are coalesced. */
const MAX_COALESCED_RECORDS = 10_000;
const MAX_COALESCED_BYTES = 16 * 1024 * 1024;
/** How long a topic's partition count is trusted (partitions can only be added, by an operator). */
const PARTITION_COUNT_TTL_MS = 60_000;

interface Pending {
  readonly records: readonly ProduceRecord[];
  readonly bytes: number;
  readonly resolve: (produced: readonly ProducedRecord[]) => void;
  readonly reject: (error: LogError) => void;
}

interface Outgoing {
  readonly topic: string;
  readonly partition: number;
  readonly key: Buffer;
  /** null: a tombstone (the client writes value length -1, as the protocol defines it). */
  readonly value: Buffer | null;
  readonly headers?: Map<Buffer, Buffer>;
  readonly timestamp?: bigint;
}

const bytes = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/**
 * acks=all, idempotent producer over @platformatic/kafka.
 *
 * Exactly one produce request is in flight per producer. The idempotent producer numbers each
 * partition's batches (KIP-98) and the broker drops a batch whose sequence it has seen; the client
 * (1.35.0) takes the sequence when a request is built and advances it only on the answer, so two
 * concurrent requests to one partition carry the same sequence and the broker acknowledges both
 * while writing one (platformatic/kafka#326, reproduced here). Hence: send() calls made while a
 * request is in flight queue up and leave together in the next request.
 *
 * After a failed request the client is replaced (new producer id, sequences from 0), so a partly
 * applied request can never leave the sequence numbers out of step with the broker.
 */
export class KafkaLogProducer implements LogProducer {
  readonly #config: KafkaLogConfig;
  #client: Producer | undefined;
  readonly #queue: Pending[] = [];
  #flushing = false;
  #closed = false;
  readonly #partitionCounts = new Map<string, { readonly count: number; readonly at: number }>();

  constructor(config: KafkaLogConfig) {
    this.#config = config;
  }

  send(records: readonly ProduceRecord[]): Promise<readonly ProducedRecord[]> {
    if (this.#closed) return Promise.reject(new LogError('CLOSED', 'log producer is closed'));
    if (records.length === 0) return Promise.resolve([]);
    for (const record of records) {
      if (record.topic === '')
        return Promise.reject(new LogError('INVALID_ARGUMENT', 'record without topic'));
      if (record.value !== null && !(record.value instanceof Uint8Array)) {
        return Promise.reject(
          new LogError('INVALID_ARGUMENT', `record value for ${record.topic} is not bytes`, {
            topic: record.topic,
          }),
        );
      }
    }
    const size = records.reduce((n, r) => n + (r.value?.byteLength ?? 0), 0);
    return new Promise((resolve, reject) => {
      this.#queue.push({ records, bytes: size, resolve, reject });
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const group: Pending[] = [];
        let count = 0;
        let size = 0;
        while (this.#queue.length > 0) {
          const next = this.#queue[0] as Pending;
          if (
            group.length > 0 &&
            (count + next.records.length > MAX_COALESCED_RECORDS || size + next.bytes > MAX_COALESCED_BYTES)
          ) {
            break;
          }
          this.#queue.shift();
          group.push(next);
          count += next.records.length;
          size += next.bytes;
        }
        // Partitioning is per caller: one caller's unknown topic must not fail the others.
        const ready: { readonly pending: Pending; readonly outgoing: readonly Outgoing[] }[] = [];
        for (const pending of group) {
          try {
            ready.push({ pending, outgoing: await this.#withDeadline(this.#prepare(pending.records)) });
          } catch (error) {
            pending.reject(toLogError(error, 'producing records'));
          }
        }
        if (ready.length === 0) continue;
        try {
          const produced = await this.#withDeadline(this.#produce(ready.flatMap((r) => r.outgoing)));
          let at = 0;
          for (const { pending } of ready) {
            pending.resolve(produced.slice(at, at + pending.records.length));
            at += pending.records.length;
          }
        } catch (error) {
          const mapped = toLogError(error, 'producing records');
          for (const { pending } of ready) pending.reject(mapped);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #prepare(records: readonly ProduceRecord[]): Promise<Outgoing[]> {
    const outgoing: Outgoing[] = [];
    for (const record of records) {
      const partition = choosePartition(record, await this.#partitionCount(record.topic));
      outgoing.push({
        topic: record.topic,
        partition,
        key: typeof record.key === 'string' ? Buffer.from(record.key, 'utf8') : bytes(record.key),
        value: record.value === null ? null : bytes(record.value),
        ...(record.headers !== undefined ? { headers: encodeHeaders(record.headers) } : {}),
        ...(record.timestamp !== undefined ? { timestamp: BigInt(Math.trunc(record.timestamp)) } : {}),
      });
    }
    return outgoing;
  }

  async #produce(outgoing: readonly Outgoing[]): Promise<ProducedRecord[]> {
    const client = this.#connect();
    let result;
    try {
      // A tombstone's value is null at run time: the client's schema requires the property and its
      // writer encodes null as length -1, but its type says `Buffer | undefined`.
      result = await client.send({ messages: [...outgoing] as Parameters<Producer['send']>[0]['messages'] });
    } catch (error) {
      // Never reuse a producer id whose sequences may now disagree with the broker's.
      // (Compared: after a deadline expiry a newer client may already serve the next request.)
      if (this.#client === client) this.#client = undefined;
      this.#partitionCounts.clear();
      client.close(true, () => undefined);
      throw error;
    }
    // One record batch per partition per request: the broker returns its base offset, and the
    // records of that partition follow in request order.
    const base = new Map<string, bigint>();
    for (const o of result.offsets ?? []) base.set(`${o.topic}\u0000${o.partition}`, o.offset);
    const seen = new Map<string, bigint>();
    return outgoing.map(({ topic, partition }) => {
      const key = `${topic}\u0000${partition}`;
      const first = base.get(key);
      if (first === undefined) {
        throw new LogError('BROKER', `no acknowledgement for ${topic}/${partition}`, {
          topic,
          partition,
          retriable: true,
        });
      }
      const index = seen.get(key) ?? 0n;
      seen.set(key, index + 1n);
      return { topic, partition, offset: first + index };
    });
  }

  /**
   * Bounds a client call, the client's own retries included (an unanswering host costs
   * connectTimeout per attempt; an idempotent client left at retries <= 1 would retry forever).
   * On expiry the client is closed, which ends its retry loop, and a fresh one serves the next call.
   */
  async #withDeadline<T>(work: Promise<T>): Promise<T> {
    const ms = this.#config.deliveryTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const client = this.#client;
        this.#client = undefined;
        client?.close(true, () => undefined);
        reject(new LogError('TIMEOUT', `no acknowledgement within ${ms} ms (deliveryTimeoutMs)`));
      }, ms);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
    }
  }

  async #partitionCount(topic: string): Promise<number> {
    const cached = this.#partitionCounts.get(topic);
    if (cached !== undefined && Date.now() - cached.at < PARTITION_COUNT_TTL_MS) return cached.count;
    const metadata = await this.#connect().metadata({ topics: [topic], forceUpdate: cached !== undefined });
    const found = metadata.topics.get(topic);
    if (found === undefined) throw new LogError('NOT_FOUND', `unknown topic ${topic}`, { topic });
    this.#partitionCounts.set(topic, { count: found.partitionsCount, at: Date.now() });
    return found.partitionsCount;
  }

  #connect(): Producer {
    const options = clientOptions(this.#config, 'producer');
    this.#client ??= new Producer({
      ...options,
      // The client turns retries <= 1 into "retry forever" for idempotent producers.
      retries: Math.max(2, typeof options.retries === 'number' ? options.retries : 3),
      idempotent: true,
      acks: ProduceAcks.ALL,
      repeatOnStaleMetadata: true,
    });
    return this.#client;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing || this.#queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.#client?.close();
    this.#client = undefined;
  }
}

function encodeHeaders(headers: Readonly<Record<string, string | Uint8Array>>): Map<Buffer, Buffer> {
  const map = new Map<Buffer, Buffer>();
  for (const [name, value] of Object.entries(headers)) {
    map.set(Buffer.from(name, 'utf8'), typeof value === 'string' ? Buffer.from(value, 'utf8') : bytes(value));
  }
  return map;
}
