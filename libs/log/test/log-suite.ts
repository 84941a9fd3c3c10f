/**
 * The one contract suite every Log passes: the Kafka log against the real broker
 * (log-suite.kafka.int.test.ts) and the file-backed log on real files in a temporary directory
 * (log-suite.file.test.ts). It uses only the public interfaces of log.ts and errors.ts; whatever
 * is specific to one implementation (crash recovery, compaction runs, brokers going away) is tested
 * in that implementation's own files.
 *
 * Timing assertions are bounds with slack for a loaded 2-core machine, never exact durations.
 */
import { partitionFor } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LogError,
  type Log,
  type LogAdmin,
  type LogProducer,
  type LogReader,
  type LogRecord,
  type ProduceRecord,
  type RecordBatch,
  type TopicPartitionOffset,
} from '../src/index.js';

export interface LogSuiteOptions {
  /** The log under test; called once per suite. */
  readonly create: () => Promise<Log>;
  /** A topic name no other test (or earlier run against the same broker) has used. */
  readonly topicName: (base: string) => string;
  /** Frees what `create` made (temporary directories); parts are closed by the suite itself. */
  readonly cleanup?: () => Promise<void>;
  /**
   * Upper bound of how long a topic's deletion takes to become visible (Kafka deletes
   * asynchronously, a file log at once).
   */
  readonly deleteVisibleWithinMs?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (bytes: Uint8Array | null | undefined): string | null =>
  bytes === null || bytes === undefined ? null : dec.decode(bytes);
/** Sample payload: robot, per-robot sequence; decoded to check per-key order on the way back. */
const payload = (robot: string, seq: number): Uint8Array => enc.encode(`${robot}#${seq}`);
const decode = (value: Uint8Array | null): { robot: string; seq: number } => {
  const [robot = '', seq = ''] = dec.decode(value ?? new Uint8Array()).split('#');
  return { robot, seq: Number(seq) };
};

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected a rejection, got a result'),
    (error: unknown) => error,
  );
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return new Error('expected a throw');
}

export function logSuite(name: string, options: LogSuiteOptions): void {
  describe(`Log contract: ${name}`, () => {
    let log: Log;
    let admin: LogAdmin;
    let producer: LogProducer;
    const readers: LogReader[] = [];
    const topic = options.topicName;

    const reader = (...args: Parameters<Log['reader']>): LogReader => {
      const r = log.reader(...args);
      readers.push(r);
      return r;
    };

    /** Reads `expected` records from the given partitions, from offset 0, within a deadline. */
    async function readAll(name: string, partitions: number, expected: number): Promise<LogRecord[]> {
      const r = reader({
        assignments: Array.from({ length: partitions }, (_, partition) => ({
          topic: name,
          partition,
          offset: 0n,
        })),
        maxWaitMs: 200,
      });
      const out: LogRecord[] = [];
      try {
        const deadline = Date.now() + 30_000;
        while (out.length < expected && Date.now() < deadline) {
          for (const batch of await r.poll()) out.push(...batch.records);
        }
      } finally {
        await r.close();
      }
      return out;
    }

    beforeAll(async () => {
      log = await options.create();
      admin = log.admin();
      producer = log.producer();
    });

    afterAll(async () => {
      await Promise.all(readers.map((r) => r.close()));
      await producer.close();
      await admin.close();
      await options.cleanup?.();
    });

    describe('admin', () => {
      it('creates topics with their partition counts; ifNotExists accepts the same count only', async () => {
        const a = topic('admin-a');
        const b = topic('admin-b');
        await admin.createTopics([
          { name: a, partitions: 4 },
          { name: b, partitions: 1, compacted: true },
        ]);
        expect(await admin.partitionCount(a)).toBe(4);
        expect(await admin.partitionCount(b)).toBe(1);
        await admin.createTopics([{ name: a, partitions: 4 }], { ifNotExists: true });
        expect(
          await rejection(admin.createTopics([{ name: a, partitions: 3 }], { ifNotExists: true })),
        ).toMatchObject({
          code: 'ALREADY_EXISTS',
          retriable: false,
        });
        expect(await rejection(admin.createTopics([{ name: a, partitions: 4 }]))).toMatchObject({
          code: 'ALREADY_EXISTS',
        });
        expect(await admin.partitionCount(a)).toBe(4);
      });

      it('refuses invalid topic specs', async () => {
        for (const spec of [
          { name: '', partitions: 1 },
          { name: topic('zero'), partitions: 0 },
          { name: topic('fraction'), partitions: 1.5 },
        ]) {
          const error = await rejection(admin.createTopics([spec]));
          expect(LogError.is(error, 'INVALID_ARGUMENT')).toBe(true);
        }
      });

      it('reports an unknown topic as NOT_FOUND', async () => {
        const missing = topic('missing');
        for (const call of [
          () => admin.partitionCount(missing),
          () => admin.endOffsets(missing),
          () => admin.beginOffsets(missing),
        ]) {
          expect(await rejection(call())).toMatchObject({ code: 'NOT_FOUND', retriable: false });
        }
      });

      it('starts every partition empty at offset 0', async () => {
        const name = topic('empty');
        await admin.createTopics([{ name, partitions: 3 }]);
        expect(await admin.endOffsets(name)).toEqual([0n, 0n, 0n]);
        expect(await admin.beginOffsets(name)).toEqual([0n, 0n, 0n]);
      });

      it('deletes topics', async () => {
        const name = topic('deleted');
        await admin.createTopics([{ name, partitions: 2 }]);
        await producer.send([{ topic: name, key: 'robot-1', value: payload('robot-1', 0) }]);
        await admin.deleteTopics([name]);
        const deadline = Date.now() + (options.deleteVisibleWithinMs ?? 0);
        let error: unknown;
        do {
          error = await rejection(admin.partitionCount(name));
          if (LogError.is(error, 'NOT_FOUND')) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        } while (Date.now() < deadline);
        expect(error).toMatchObject({ code: 'NOT_FOUND' });
        await admin.deleteTopics([]);
      });
    });

    describe('producer and reader', () => {
      it('round-trips keys, values, headers, timestamps and tombstones at dense offsets', async () => {
        const name = topic('roundtrip');
        await admin.createTopics([{ name, partitions: 1, compacted: true }]);
        const t0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
        const binaryKey = new Uint8Array([0, 1, 2, 254, 255]);
        const records: ProduceRecord[] = [
          {
            topic: name,
            key: 'robot-1',
            value: enc.encode('{"site":"a"}'),
            headers: { 'schema-version': '1', raw: new Uint8Array([0, 255]) },
            timestamp: t0,
          },
          { topic: name, key: binaryKey, value: new Uint8Array(0), timestamp: t0 + 1 },
          { topic: name, key: 'robot-1', value: null, timestamp: t0 + 2 },
          { topic: name, key: 'robot-2', value: enc.encode('x'.repeat(10_000)) },
        ];
        const before = Date.now();
        const produced = await producer.send(records);
        expect(produced).toEqual(records.map((_, i) => ({ topic: name, partition: 0, offset: BigInt(i) })));

        const read = await readAll(name, 1, records.length);
        expect(read.map((r) => [r.topic, r.partition, r.offset])).toEqual(
          records.map((_, i) => [name, 0, BigInt(i)]),
        );
        const [first, second, third, fourth] = read;
        expect(text(first?.key)).toBe('robot-1');
        expect(text(first?.value)).toBe('{"site":"a"}');
        expect(text(first?.headers['schema-version'])).toBe('1');
        expect([...(first?.headers['raw'] ?? [])]).toEqual([0, 255]);
        expect(first?.timestamp).toBe(t0);
        expect([...(second?.key ?? [])]).toEqual([...binaryKey]);
        expect(second?.value?.byteLength).toBe(0);
        expect(second?.value).not.toBeNull();
        expect(second?.headers).toEqual({});
        expect(second?.timestamp).toBe(t0 + 1);
        expect(text(third?.key)).toBe('robot-1');
        expect(third?.value).toBeNull();
        expect(third?.timestamp).toBe(t0 + 2);
        expect(text(fourth?.value)).toBe('x'.repeat(10_000));
        // No timestamp given: the producer's clock at send time.
        expect(fourth?.timestamp).toBeGreaterThanOrEqual(before - 1000);
        expect(fourth?.timestamp).toBeLessThanOrEqual(Date.now() + 1000);
      });

      it('partitions by partitionFor(key, n), keeps per-partition order across concurrent send() calls', async () => {
        const partitions = 4;
        const name = topic('ordered');
        await admin.createTopics([{ name, partitions }]);
        const robots = Array.from({ length: 12 }, (_, i) => `robot-${i.toString().padStart(4, '0')}`);
        const perRobot = 15;
        // One send() per sequence number, all started together (as the gateway does).
        const calls = Array.from({ length: perRobot }, (_, seq) =>
          robots.map((robot) => ({
            topic: name,
            key: robot,
            value: payload(robot, seq),
            timestamp: 1_000 + seq,
          })),
        );
        const produced = (await Promise.all(calls.map((records) => producer.send(records)))).flat();
        expect(produced).toHaveLength(robots.length * perRobot);

        const written = calls.flat();
        const perPartition = new Map<number, bigint[]>();
        produced.forEach((p, i) => {
          const record = written[i] as ProduceRecord;
          expect(p.topic).toBe(name);
          expect(p.partition).toBe(partitionFor(record.key, partitions));
          perPartition.set(p.partition, [...(perPartition.get(p.partition) ?? []), p.offset]);
        });
        // Offsets of each partition are exactly 0..n-1, and follow the order of the calls.
        for (const offsets of perPartition.values()) {
          expect(offsets).toEqual(offsets.map((_, i) => BigInt(i)));
        }
        expect(await admin.endOffsets(name)).toEqual(
          Array.from({ length: partitions }, (_, p) => BigInt(perPartition.get(p)?.length ?? 0)),
        );
        expect(await admin.beginOffsets(name)).toEqual(new Array(partitions).fill(0n));

        const read = await readAll(name, partitions, produced.length);
        expect(read).toHaveLength(produced.length);
        const lastOffset = new Map<number, bigint>();
        const lastSeq = new Map<string, number>();
        for (const record of read) {
          const key = text(record.key) ?? '';
          const { robot, seq } = decode(record.value);
          expect(robot).toBe(key);
          expect(record.partition).toBe(partitionFor(key, partitions));
          expect(record.offset).toBe((lastOffset.get(record.partition) ?? -1n) + 1n);
          lastOffset.set(record.partition, record.offset);
          expect(seq).toBe((lastSeq.get(robot) ?? -1) + 1);
          lastSeq.set(robot, seq);
          expect(record.timestamp).toBe(1_000 + seq);
        }
        expect([...lastSeq.values()]).toEqual(robots.map(() => perRobot - 1));
      });

      it('writes to an explicit partition and refuses one outside the topic', async () => {
        const name = topic('explicit');
        await admin.createTopics([{ name, partitions: 3 }]);
        const produced = await producer.send([
          { topic: name, key: 'robot-1', value: payload('robot-1', 0), partition: 2 },
          { topic: name, key: 'robot-1', value: payload('robot-1', 1), partition: 2 },
        ]);
        expect(produced.map((p) => [p.partition, p.offset])).toEqual([
          [2, 0n],
          [2, 1n],
        ]);
        for (const partition of [3, -1, 0.5]) {
          expect(
            await rejection(
              producer.send([{ topic: name, key: 'robot-1', value: new Uint8Array([1]), partition }]),
            ),
          ).toMatchObject({ code: 'INVALID_ARGUMENT', retriable: false });
        }
        expect(await admin.endOffsets(name)).toEqual([0n, 0n, 2n]);
      });

      it('refuses an unknown topic with NOT_FOUND and stays usable', async () => {
        const name = topic('usable');
        await admin.createTopics([{ name, partitions: 1 }]);
        expect(
          await rejection(
            producer.send([{ topic: topic('nowhere'), key: 'robot-1', value: new Uint8Array([1]) }]),
          ),
        ).toMatchObject({ code: 'NOT_FOUND' });
        const [ok] = await producer.send([{ topic: name, key: 'robot-1', value: payload('robot-1', 0) }]);
        expect(ok).toEqual({ topic: name, partition: 0, offset: 0n });
        expect(await producer.send([])).toEqual([]);
      });

      it('reads from the assigned offset, reports position and highWatermark, and seeks', async () => {
        const name = topic('seek');
        await admin.createTopics([{ name, partitions: 2 }]);
        await producer.send(
          Array.from({ length: 10 }, (_, i) => ({
            topic: name,
            key: 'robot-x',
            value: payload('robot-x', i),
            partition: 1,
          })),
        );
        const r = reader({ assignments: [{ topic: name, partition: 1, offset: 7n }], maxWaitMs: 200 });
        expect(r.position()).toEqual([{ topic: name, partition: 1, offset: 7n }]);
        const first = await r.poll();
        expect(first).toHaveLength(1);
        expect(first[0]?.records.map((rec) => [rec.offset, decode(rec.value).seq])).toEqual([
          [7n, 7],
          [8n, 8],
          [9n, 9],
        ]);
        expect(first[0]).toMatchObject({ topic: name, partition: 1, nextOffset: 10n, highWatermark: 10n });
        expect(r.position()).toEqual([{ topic: name, partition: 1, offset: 10n }]);
        // Caught up: an idle partition yields nothing rather than blocking.
        expect(await r.poll()).toEqual([]);
        expect(r.position()).toEqual([{ topic: name, partition: 1, offset: 10n }]);

        r.seek({ topic: name, partition: 1, offset: 2n });
        expect(r.position()).toEqual([{ topic: name, partition: 1, offset: 2n }]);
        const again = await r.poll();
        expect(again[0]?.records[0]?.offset).toBe(2n);
        expect(decode(again[0]?.records[0]?.value ?? null).seq).toBe(2);

        // seek() only moves assigned partitions; assign() replaces the whole assignment.
        expect(thrown(() => r.seek({ topic: name, partition: 0, offset: 0n }))).toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
        r.assign([
          { topic: name, partition: 0, offset: 0n },
          { topic: name, partition: 1, offset: 9n },
        ]);
        expect(r.position()).toEqual([
          { topic: name, partition: 0, offset: 0n },
          { topic: name, partition: 1, offset: 9n },
        ]);
        const after = await r.poll();
        expect(after.map((b) => [b.partition, b.records.map((rec) => rec.offset)])).toEqual([[1, [9n]]]);
        for (const bad of [
          { topic: name, partition: -1, offset: 0n },
          { topic: name, partition: 0, offset: -1n },
          { topic: '', partition: 0, offset: 0n },
        ]) {
          expect(thrown(() => r.assign([bad]))).toMatchObject({ code: 'INVALID_ARGUMENT' });
        }
        await r.close();
      });

      it('hands out at least one record per partition however small maxBytesPerPartition is', async () => {
        const name = topic('small-fetch');
        await admin.createTopics([{ name, partitions: 1 }]);
        const big = (i: number): Uint8Array => new Uint8Array(4096).fill(i);
        await producer.send([0, 1, 2].map((i) => ({ topic: name, key: 'robot-b', value: big(i) })));
        const r = reader({
          assignments: [{ topic: name, partition: 0, offset: 0n }],
          maxWaitMs: 200,
          maxBytesPerPartition: 1024,
        });
        const seen: bigint[] = [];
        const deadline = Date.now() + 20_000;
        while (seen.length < 3 && Date.now() < deadline) {
          const round = await r.poll();
          for (const b of round) {
            expect(b.records.length).toBeGreaterThan(0);
            for (const rec of b.records) {
              expect(rec.value?.byteLength).toBe(4096);
              expect(rec.value?.[0]).toBe(Number(rec.offset));
              seen.push(rec.offset);
            }
          }
        }
        expect(seen).toEqual([0n, 1n, 2n]);
        await r.close();
      });

      it('long-polls: an idle poll returns nothing after about maxWaitMs, a record produced meanwhile ends the wait', async () => {
        const name = topic('longpoll');
        await admin.createTopics([{ name, partitions: 2 }]);
        const idle = reader({ assignments: [{ topic: name, partition: 0, offset: 0n }], maxWaitMs: 400 });
        let started = Date.now();
        expect(await idle.poll()).toEqual([]);
        let took = Date.now() - started;
        expect(took).toBeGreaterThanOrEqual(300);
        expect(took).toBeLessThan(5_000);

        const waiting = reader({
          assignments: [
            { topic: name, partition: 0, offset: 0n },
            { topic: name, partition: 1, offset: 0n },
          ],
          maxWaitMs: 15_000,
        });
        started = Date.now();
        const polled = waiting.poll();
        await new Promise((resolve) => setTimeout(resolve, 300));
        await producer.send([{ topic: name, key: 'robot-l', value: payload('robot-l', 0), partition: 1 }]);
        const round: readonly RecordBatch[] = await polled;
        took = Date.now() - started;
        expect(round.map((b) => [b.partition, b.records.map((r) => decode(r.value).seq)])).toEqual([
          [1, [0]],
        ]);
        expect(took).toBeLessThan(10_000);

        // An empty assignment waits too, and returns nothing.
        const none = reader({ maxWaitMs: 200 });
        started = Date.now();
        expect(await none.poll()).toEqual([]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(150);
        await Promise.all([idle.close(), waiting.close(), none.close()]);
      });

      it('rejects a read outside the stored range with OFFSET_OUT_OF_RANGE and does not move', async () => {
        const name = topic('range');
        await admin.createTopics([{ name, partitions: 1 }]);
        await producer.send(
          [0, 1, 2].map((i) => ({ topic: name, key: 'robot-r', value: payload('robot-r', i) })),
        );
        const r = reader({
          assignments: [{ topic: name, partition: 0, offset: 1_000_000n }],
          maxWaitMs: 100,
        });
        const error = await rejection(r.poll());
        expect(LogError.is(error, 'OFFSET_OUT_OF_RANGE')).toBe(true);
        expect(error).toMatchObject({ topic: name, partition: 0, retriable: false });
        expect(r.position()).toEqual([{ topic: name, partition: 0, offset: 1_000_000n }]);
        // One past the end is not out of range: it is where the next record goes.
        r.seek({ topic: name, partition: 0, offset: 3n });
        expect(await r.poll()).toEqual([]);
        await r.close();
      });

      it('rejects a read of an unknown topic or partition with NOT_FOUND', async () => {
        const name = topic('known');
        await admin.createTopics([{ name, partitions: 2 }]);
        const unknownTopic = reader({
          assignments: [{ topic: topic('unknown'), partition: 0, offset: 0n }],
          maxWaitMs: 100,
        });
        expect(await rejection(unknownTopic.poll())).toMatchObject({ code: 'NOT_FOUND', retriable: false });
        const unknownPartition = reader({
          assignments: [{ topic: name, partition: 2, offset: 0n }],
          maxWaitMs: 100,
        });
        expect(await rejection(unknownPartition.poll())).toMatchObject({ code: 'NOT_FOUND' });
        await Promise.all([unknownTopic.close(), unknownPartition.close()]);
      });

      it('yields non-empty rounds from batches() until close()', async () => {
        const name = topic('batches');
        await admin.createTopics([{ name, partitions: 1 }]);
        await producer.send(
          [0, 1, 2, 3].map((i) => ({ topic: name, key: 'robot-i', value: payload('robot-i', i) })),
        );
        const r = reader({ assignments: [{ topic: name, partition: 0, offset: 0n }], maxWaitMs: 100 });
        const seqs: number[] = [];
        for await (const round of r.batches()) {
          for (const batch of round) seqs.push(...batch.records.map((rec) => decode(rec.value).seq));
          if (seqs.length >= 4) break;
        }
        expect(seqs).toEqual([0, 1, 2, 3]);
        // A loop over batches() ends when the reader is closed under it.
        const consumed: number[] = [];
        const loop = (async () => {
          for await (const round of r.batches()) for (const b of round) consumed.push(b.records.length);
        })();
        await new Promise((resolve) => setTimeout(resolve, 250));
        await r.close();
        await loop;
        expect(consumed).toEqual([]);
      });
    });

    describe('close', () => {
      it('refuses every call after close(); close() twice is harmless', async () => {
        const name = topic('closed');
        const a = log.admin();
        const p = log.producer();
        const r = log.reader({ assignments: [{ topic: name, partition: 0, offset: 0n }], maxWaitMs: 100 });
        await a.createTopics([{ name, partitions: 1 }]);
        await p.send([{ topic: name, key: 'robot-z', value: payload('robot-z', 0) }]);
        await Promise.all([a.close(), p.close(), r.close()]);
        await Promise.all([a.close(), p.close(), r.close()]);

        const position: TopicPartitionOffset = { topic: name, partition: 0, offset: 0n };
        for (const error of [
          await rejection(p.send([{ topic: name, key: 'robot-z', value: payload('robot-z', 1) }])),
          await rejection(r.poll()),
          await rejection(a.createTopics([{ name: topic('after-close'), partitions: 1 }])),
          await rejection(a.partitionCount(name)),
          await rejection(a.endOffsets(name)),
          thrown(() => r.assign([position])),
          thrown(() => r.seek(position)),
        ]) {
          expect(LogError.is(error, 'CLOSED')).toBe(true);
        }
        // What was written before close() stays.
        expect(await admin.endOffsets(name)).toEqual([1n]);
      });

      it('lets sends in flight finish when the producer closes', async () => {
        const name = topic('close-flush');
        await admin.createTopics([{ name, partitions: 1 }]);
        const p = log.producer();
        const sends = Array.from({ length: 10 }, (_, i) =>
          p.send([{ topic: name, key: 'robot-f', value: payload('robot-f', i) }]),
        );
        await p.close();
        const produced = (await Promise.all(sends)).flat();
        expect(produced.map((x) => x.offset)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));
        expect(await admin.endOffsets(name)).toEqual([10n]);
      });
    });
  });
}
