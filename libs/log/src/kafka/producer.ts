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
  /** performance.now() when queued, for lingerMs. */
  readonly at: number;
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
  /** Records and bytes in #queue, to end a linger early once a request would be full. */
  #queuedRecords = 0;
  #queuedBytes = 0;
  /** Ends the current linger wait early (set while #flush lingers). */
  #wake: (() => void) | undefined;
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
    let size = 0;
    for (const record of records) size += record.value?.byteLength ?? 0;
    return new Promise((resolve, reject) => {
      this.#queue.push({ records, bytes: size, at: performance.now(), resolve, reject });
      this.#queuedRecords += records.length;
      this.#queuedBytes += size;
      if (this.#wake !== undefined && this.#full()) this.#wake();
      void this.#flush();
    });
  }

  #full(): boolean {
    return this.#queuedRecords >= MAX_COALESCED_RECORDS || this.#queuedBytes >= MAX_COALESCED_BYTES;
  }

  /**
   * Waits until the oldest queued record has lingered `lingerMs`, unless the next request would
   * already be full or the producer is closing.
   */
  async #linger(): Promise<void> {
    const lingerMs = this.#config.lingerMs ?? 0;
    const oldest = this.#queue[0];
    if (lingerMs <= 0 || oldest === undefined || this.#closed || this.#full()) return;
    const wait = oldest.at + lingerMs - performance.now();
    if (wait < 1) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, wait);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        await this.#linger();
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
          this.#queuedRecords -= next.records.length;
          this.#queuedBytes -= next.bytes;
          group.push(next);
          count += next.records.length;
          size += next.bytes;
        }
        // Partitioning is per caller: one caller's unknown topic must not fail the others.
        const ready: { readonly pending: Pending; readonly outgoing: readonly Outgoing[] }[] = [];
        for (const pending of group) {
          try {
            // Partition counts are nearly always cached: then no await (nor deadline timer) per caller.
            const outgoing =
              this.#prepareCached(pending.records) ??
              (await this.#withDeadline(this.#prepare(pending.records)));
            ready.push({ pending, outgoing });
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

  /** The records to send, or undefined when a topic's partition count must be (re)read first. */
  #prepareCached(records: readonly ProduceRecord[]): Outgoing[] | undefined {
    const now = Date.now();
    for (const record of records) {
      const cached = this.#partitionCounts.get(record.topic);
      if (cached === undefined || now - cached.at >= PARTITION_COUNT_TTL_MS) return undefined;
    }
    return records.map((record) =>
      toOutgoing(record, (this.#partitionCounts.get(record.topic) as { count: number }).count, now),
    );
  }

  async #prepare(records: readonly ProduceRecord[]): Promise<Outgoing[]> {
    const outgoing: Outgoing[] = [];
    const now = Date.now();
    for (const record of records)
      outgoing.push(toOutgoing(record, await this.#partitionCount(record.topic), now));
    return outgoing;
  }

  /**
   * Sends the records in as few requests as the client can encode correctly: @platformatic/kafka
   * 1.x writes a record's timestamp delta (to the first record of its partition's batch) with a
   * varint64 that is wrong from 2^31 ms (24.8 days) on, so records further apart than that go in a
   * later request (in order). Robots' backlogs are seldom that old; the usual case is one request.
   */
  async #produce(outgoing: readonly Outgoing[]): Promise<ProducedRecord[]> {
    const requests: Outgoing[][] = [[]];
    let firsts = new Map<string, bigint>();
    for (const o of outgoing) {
      const key = `${o.topic}\u0000${o.partition}`;
      const first = firsts.get(key);
      const ts = o.timestamp as bigint;
      if (first === undefined) firsts.set(key, ts);
      else if (ts - first > MAX_TIMESTAMP_DELTA || first - ts > MAX_TIMESTAMP_DELTA) {
        requests.push([]);
        firsts = new Map([[key, ts]]);
      }
      (requests[requests.length - 1] as Outgoing[]).push(o);
    }
    if (requests.length === 1) return this.#produceOne(outgoing);
    const produced: ProducedRecord[] = [];
    for (const request of requests) produced.push(...(await this.#produceOne(request)));
    return produced;
  }

  async #produceOne(outgoing: readonly Outgoing[]): Promise<ProducedRecord[]> {
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
    this.#wake?.();
    while (this.#flushing || this.#queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.#client?.close();
    this.#client = undefined;
  }
}

/** Largest timestamp delta within one batch that the client encodes correctly (2^31 - 1 ms). */
const MAX_TIMESTAMP_DELTA = 2_147_483_647n;

/** `now`: the timestamp of a record that has none (ms; read once per send()). */
function toOutgoing(record: ProduceRecord, partitionCount: number, now: number): Outgoing {
  const outgoing: { -readonly [K in keyof Outgoing]: Outgoing[K] } = {
    topic: record.topic,
    partition: choosePartition(record, partitionCount),
    key: typeof record.key === 'string' ? Buffer.from(record.key, 'utf8') : bytes(record.key),
    value: record.value === null ? null : bytes(record.value),
  };
  if (record.headers !== undefined) outgoing.headers = encodeHeaders(record.headers);
  // Always explicit (default: now), so that #produce can keep a batch's deltas encodable.
  outgoing.timestamp = BigInt(Math.trunc(record.timestamp ?? now));
  return outgoing;
}

function encodeHeaders(headers: Readonly<Record<string, string | Uint8Array>>): Map<Buffer, Buffer> {
  const map = new Map<Buffer, Buffer>();
  for (const [name, value] of Object.entries(headers)) {
    map.set(Buffer.from(name, 'utf8'), typeof value === 'string' ? Buffer.from(value, 'utf8') : bytes(value));
  }
  return map;
}
