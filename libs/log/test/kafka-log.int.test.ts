/**
 * Integration tier. Real: an Apache Kafka broker (KRaft) started once per run by the global setup
 * (libs/testing/src/global-setup.ts), or the one in KAFKA_BROKERS; the @platformatic/kafka client;
 * @fleet/protocol's partitioner. Nothing is stubbed. Each suite uses topics of its own.
 */
import { partitionFor } from '@fleet/protocol';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createKafkaLog,
  LogError,
  type LogAdmin,
  type LogProducer,
  type LogRecord,
  type ProduceRecord,
} from '../src/index.js';

// The global setup provides this (its declaration: libs/testing/src/kafka-context.ts; a library may
// not import the test package, so the augmentation is repeated here).
declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

const PARTITIONS = 8;
const brokers = inject('kafkaBrokers').split(',');
const log = createKafkaLog({ brokers, clientId: 'log-int-test' });
const topicName = (name: string): string =>
  `log-int.${name}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;

/** Sample payload: robot, per-robot sequence; decoded to check per-key order on the way back. */
const payload = (robot: string, seq: number): Uint8Array => new TextEncoder().encode(`${robot}#${seq}`);
const decode = (value: Uint8Array | null): { robot: string; seq: number } => {
  const [robot = '', seq = ''] = new TextDecoder().decode(value ?? new Uint8Array()).split('#');
  return { robot, seq: Number(seq) };
};

async function readAll(topic: string, partitions: number, expected: number): Promise<LogRecord[]> {
  const reader = log.reader({
    assignments: Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0n })),
    maxWaitMs: 200,
  });
  const out: LogRecord[] = [];
  try {
    const deadline = Date.now() + 30_000;
    while (out.length < expected && Date.now() < deadline) {
      for (const batch of await reader.poll()) out.push(...batch.records);
    }
  } finally {
    await reader.close();
  }
  return out;
}

describe('Kafka log (real broker)', () => {
  let admin: LogAdmin;
  let producer: LogProducer;
  const telemetry = topicName('telemetry');
  const metadata = topicName('metadata');

  beforeAll(async () => {
    admin = log.admin();
    producer = log.producer();
    await admin.createTopics([
      { name: telemetry, partitions: PARTITIONS },
      { name: metadata, partitions: 1, compacted: true },
    ]);
  });

  afterAll(async () => {
    await producer.close();
    await admin.close();
  });

  it('creates topics with their partition counts, idempotently with ifNotExists', async () => {
    expect(await admin.partitionCount(telemetry)).toBe(PARTITIONS);
    expect(await admin.partitionCount(metadata)).toBe(1);
    await admin.createTopics([{ name: telemetry, partitions: PARTITIONS }], { ifNotExists: true });
    await expect(
      admin.createTopics([{ name: telemetry, partitions: 3 }], { ifNotExists: true }),
    ).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      retriable: false,
    });
    await expect(admin.createTopics([{ name: telemetry, partitions: PARTITIONS }])).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
    await expect(admin.partitionCount(topicName('missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('writes keyed records to partitionFor(key, n), in order per partition, and reads them back at their offsets', async () => {
    const robots = Array.from({ length: 40 }, (_, i) => `robot-${i.toString().padStart(4, '0')}`);
    const perRobot = 25;
    const t0 = Date.now() - 60_000;
    const calls: ProduceRecord[][] = [];
    for (let seq = 0; seq < perRobot; seq++) {
      calls.push(
        robots.map((robot) => ({
          topic: telemetry,
          key: robot,
          value: payload(robot, seq),
          headers: { 'schema-version': '1', seq: new Uint8Array([seq]) },
          timestamp: t0 + seq,
        })),
      );
    }
    // Calls made together (as the gateway will) must all land: none swallowed by idempotence.
    const produced = (await Promise.all(calls.map((records) => producer.send(records)))).flat();
    expect(produced).toHaveLength(robots.length * perRobot);

    const written = calls.flat();
    const perPartition = new Map<number, bigint[]>();
    produced.forEach((p, i) => {
      const record = written[i] as ProduceRecord;
      expect(p.topic).toBe(telemetry);
      expect(p.partition).toBe(partitionFor(record.key, PARTITIONS));
      perPartition.set(p.partition, [...(perPartition.get(p.partition) ?? []), p.offset]);
    });
    // Offsets of each partition are exactly 0..n-1: nothing lost, nothing duplicated.
    for (const offsets of perPartition.values()) {
      expect([...offsets].sort((a, b) => (a < b ? -1 : 1))).toEqual(offsets.map((_, i) => BigInt(i)));
    }
    const end = await admin.endOffsets(telemetry);
    expect(end).toHaveLength(PARTITIONS);
    end.forEach((offset, partition) => expect(offset).toBe(BigInt(perPartition.get(partition)?.length ?? 0)));
    expect(await admin.beginOffsets(telemetry)).toEqual(new Array(PARTITIONS).fill(0n));

    const read = await readAll(telemetry, PARTITIONS, produced.length);
    expect(read).toHaveLength(produced.length);
    const lastOffset = new Map<number, bigint>();
    const lastSeq = new Map<string, number>();
    for (const record of read) {
      const key = new TextDecoder().decode(record.key ?? new Uint8Array());
      const { robot, seq } = decode(record.value);
      expect(robot).toBe(key);
      expect(record.partition).toBe(partitionFor(key, PARTITIONS));
      expect(record.offset).toBe((lastOffset.get(record.partition) ?? -1n) + 1n);
      lastOffset.set(record.partition, record.offset);
      expect(seq).toBe((lastSeq.get(robot) ?? -1) + 1);
      lastSeq.set(robot, seq);
      expect(record.timestamp).toBe(t0 + seq);
      expect(new TextDecoder().decode(record.headers['schema-version'])).toBe('1');
      expect([...(record.headers['seq'] ?? [])]).toEqual([seq]);
    }
    expect([...lastSeq.values()].every((s) => s === perRobot - 1)).toBe(true);
  });

  it('starts reading an assigned partition at the given offset and seeks', async () => {
    const topic = topicName('offsets');
    await admin.createTopics([{ name: topic, partitions: 2 }]);
    const records = Array.from({ length: 10 }, (_, i) => ({
      topic,
      key: 'robot-x',
      value: payload('robot-x', i),
      partition: 1,
    }));
    const produced = await producer.send(records);
    expect(produced.map((p) => [p.partition, p.offset])).toEqual(records.map((_, i) => [1, BigInt(i)]));

    const reader = log.reader({ assignments: [{ topic, partition: 1, offset: 7n }], maxWaitMs: 200 });
    try {
      const first = await reader.poll();
      expect(first).toHaveLength(1);
      expect(first[0]?.records.map((r) => [r.offset, decode(r.value).seq])).toEqual([
        [7n, 7],
        [8n, 8],
        [9n, 9],
      ]);
      expect(first[0]?.nextOffset).toBe(10n);
      expect(first[0]?.highWatermark).toBe(10n);
      expect(reader.position()).toEqual([{ topic, partition: 1, offset: 10n }]);
      // Caught up: an idle partition yields nothing rather than blocking.
      expect(await reader.poll()).toEqual([]);

      reader.seek({ topic, partition: 1, offset: 2n });
      const again = await reader.poll();
      expect(again[0]?.records[0]?.offset).toBe(2n);
      expect(decode(again[0]?.records[0]?.value ?? null).seq).toBe(2);
    } finally {
      await reader.close();
    }
  });

  it('regression platformatic/kafka#326: concurrent single-record sends to one partition all land', async () => {
    const topic = topicName('concurrent');
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const produced = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        producer.send([{ topic, key: 'robot-c', value: payload('robot-c', i) }]),
      ),
    );
    expect(new Set(produced.flat().map((p) => p.offset)).size).toBe(20);
    expect(await admin.endOffsets(topic)).toEqual([20n]);
  });

  it('regression (client varint64 wrong from 2^31): records 30 and 60 days apart in one send keep their timestamps', async () => {
    const topic = topicName('old-backlog');
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const day = 86_400_000;
    const now = Date.now();
    const stamps = [now - 60 * day, now - 30 * day, now - 30 * day + 1, now, now - 60 * day];
    const produced = await producer.send(
      stamps.map((timestamp, i) => ({ topic, key: 'robot-b', value: payload('robot-b', i), timestamp })),
    );
    expect(produced.map((p) => p.offset)).toEqual([0n, 1n, 2n, 3n, 4n]);
    const read = await readAll(topic, 1, stamps.length);
    expect(read.map((r) => r.timestamp)).toEqual(stamps);
    expect(read.map((r) => decode(r.value).seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it('reports an offset outside the stored range instead of jumping', async () => {
    const reader = log.reader({
      assignments: [{ topic: telemetry, partition: 0, offset: 1_000_000n }],
      maxWaitMs: 100,
    });
    try {
      const error = await reader.poll().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(LogError.is(error, 'OFFSET_OUT_OF_RANGE')).toBe(true);
      expect(error).toMatchObject({ topic: telemetry, partition: 0, retriable: false });
    } finally {
      await reader.close();
    }
  });

  it('refuses a partition outside the topic and an unknown topic, without retrying', async () => {
    await expect(
      producer.send([
        { topic: telemetry, key: 'robot-1', value: new Uint8Array([1]), partition: PARTITIONS },
      ]),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', retriable: false });
    await expect(
      producer.send([{ topic: topicName('missing'), key: 'robot-1', value: new Uint8Array([1]) }]),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // The producer is still usable afterwards.
    const [ok] = await producer.send([{ topic: telemetry, key: 'robot-1', value: payload('robot-1', 0) }]);
    expect(ok?.partition).toBe(partitionFor('robot-1', PARTITIONS));
  });

  it('writes to a compacted topic and reads it back', async () => {
    const produced = await producer.send([
      { topic: metadata, key: 'robot-1', value: new TextEncoder().encode('{"site":"a"}') },
      { topic: metadata, key: 'robot-1', value: new TextEncoder().encode('{"site":"b"}') },
    ]);
    expect(produced.map((p) => p.offset)).toEqual([0n, 1n]);
    const read = await readAll(metadata, 1, 2);
    expect(read.map((r) => new TextDecoder().decode(r.value ?? new Uint8Array()))).toEqual([
      '{"site":"a"}',
      '{"site":"b"}',
    ]);
  });
});

describe('Kafka log against an unreachable broker', () => {
  it('fails a send with a retriable error instead of hanging', async () => {
    // A port that was just free on loopback: connections are refused.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 1));
      });
    });
    const unreachable = createKafkaLog({
      brokers: [`127.0.0.1:${port}`],
      clientId: 'log-int-unreachable',
      connectTimeoutMs: 1000,
      retries: 1,
      retryDelayMs: 50,
    });
    const producer = unreachable.producer();
    const started = Date.now();
    try {
      const error = await producer.send([{ topic: 'any', key: 'robot-1', value: new Uint8Array([1]) }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(LogError);
      expect(error).toMatchObject({ code: 'UNREACHABLE', retriable: true, poison: false });
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await producer.close();
    }
  });
});
