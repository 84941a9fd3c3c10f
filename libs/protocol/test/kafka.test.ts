import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DeadLetterHeader,
  DeadLetterReason,
  deadLetterHeaders,
  KAFKA_TOPIC_SPECS,
  kafkaKey,
  KafkaTopics,
  MAX_REASON_TEXT_LENGTH,
  murmur2,
  parseDeadLetterHeaders,
  parseKafkaKey,
  parseMqttTopic,
  partitionFor,
  ProtocolError,
  ProtocolErrorCode,
} from '../src/index.js';
import { id } from './arbitraries.js';
import { expectProtocolError } from './helpers.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('murmur2 (Kafka Utils.murmur2)', () => {
  // Apache Kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
  const kafkaUtilsTest: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  // Akka's Murmur2Spec (akka-cluster-sharding-typed), "expected correct hash values from the kafka
  // murmur2 impl": keys of length 1..5, so every tail length (1, 2, 3) and one full block.
  const akkaSpec: [string, number][] = [
    ['1', -1993445489],
    ['12', 126087238],
    ['123', -267702483],
    ['1234', -1614185708],
    ['12345', -1188365604],
  ];

  it.each(kafkaUtilsTest)('murmur2(%j) = %i (Kafka UtilsTest)', (key, hash) => {
    expect(murmur2(bytes(key))).toBe(hash);
  });

  it.each(akkaSpec)('murmur2(%j) = %i (Akka Murmur2Spec)', (key, hash) => {
    expect(murmur2(bytes(key))).toBe(hash);
  });

  it('hashes a Uint8Array view with a non-zero byteOffset like a fresh copy', () => {
    const pool = new Uint8Array(64).fill(0xaa);
    pool.set(bytes('foobar'), 5);
    expect(murmur2(pool.subarray(5, 11))).toBe(-790332482);
  });
});

describe('partitionFor (Kafka default partitioner for keyed records)', () => {
  // kafka-python test_partitioner.py, test_murmur2_java_compatibility: partitions out of 1000 as
  // computed by Kafka's Java partitioner; they cover key lengths 0..3, 9 and a NUL byte.
  const javaPartitions: [Uint8Array, number][] = [
    [new Uint8Array([]), 681],
    [bytes('a'), 524],
    [bytes('ab'), 434],
    [bytes('abc'), 107],
    [bytes('123456789'), 566],
    [new Uint8Array([0x00, 0x20]), 742],
  ];

  it.each(javaPartitions)('partitionFor(%j, 1000) = %i', (key, partition) => {
    expect(partitionFor(key, 1000)).toBe(partition);
  });

  it('masks to positive rather than taking an absolute value', () => {
    expect(partitionFor('21', 7)).toBe((-973932308 & 0x7fffffff) % 7);
    expect(partitionFor('foobar', 12)).toBe((-790332482 & 0x7fffffff) % 12);
  });

  it('gives a string key the partition of its UTF-8 bytes, which is kafkaKey', () => {
    fc.assert(
      fc.property(id, fc.integer({ min: 1, max: 4096 }), (robotId, n) => {
        const p = partitionFor(robotId, n);
        expect(p).toBe(partitionFor(kafkaKey(robotId), n));
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
      }),
    );
    expect(partitionFor('é', 1000)).toBe(partitionFor(new Uint8Array([0xc3, 0xa9]), 1000));
  });

  it('spreads 100k robot ids evenly (chi-square within the 99.9% bound)', () => {
    for (const n of [12, 64]) {
      const counts = new Array<number>(n).fill(0);
      const robots = 100_000;
      for (let i = 0; i < robots; i++) {
        const p = partitionFor(`robot-${i}`, n);
        counts[p] = (counts[p] ?? 0) + 1;
      }
      const expected = robots / n;
      const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
      // 99.9% quantile of chi-square with n-1 degrees of freedom: 31.3 (11 df), 103.4 (63 df).
      expect(chi2).toBeLessThan(n === 12 ? 31.3 : 103.4);
      expect(Math.min(...counts)).toBeGreaterThan(expected * 0.9);
    }
  });

  it('rejects a partition count that is not a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => partitionFor('r', n)).toThrow(RangeError);
  });
});

describe('Kafka keys and topics', () => {
  it('keys are the robot id as UTF-8 and parse back', () => {
    fc.assert(
      fc.property(id, (robotId) => {
        const key = kafkaKey(robotId);
        expect(new TextDecoder().decode(key)).toBe(robotId);
        expect(parseKafkaKey(key)).toBe(robotId);
      }),
    );
  });

  it('rejects keys that are not robot ids with BAD_TOPIC', () => {
    expectProtocolError(() => kafkaKey('r/1'), ProtocolErrorCode.BAD_TOPIC, '"r/1"');
    expectProtocolError(() => parseKafkaKey(null), ProtocolErrorCode.BAD_TOPIC, 'missing');
    expectProtocolError(() => parseKafkaKey(bytes('é')), ProtocolErrorCode.BAD_TOPIC, 'not a robot id');
  });

  it('names follow Kafka rules, are distinct, and only presence and metadata are compacted', () => {
    const names = Object.values(KafkaTopics);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^fleet\.[a-z-]+\.v1$/);
    expect(
      Object.values(KAFKA_TOPIC_SPECS)
        .filter((s) => s.compacted)
        .map((s) => s.name),
    ).toEqual(['fleet.presence.v1', 'fleet.robot-metadata.v1']);
    expect(
      Object.values(KAFKA_TOPIC_SPECS)
        .filter((s) => !s.keyed)
        .map((s) => s.name),
    ).toEqual(['fleet.dead-letter.v1']);
    for (const [k, spec] of Object.entries(KAFKA_TOPIC_SPECS))
      expect(spec.name).toBe(KafkaTopics[k as keyof typeof KafkaTopics]);
  });
});

describe('dead-letter headers', () => {
  it('carry a ProtocolError, the source topic and the receive time, and parse back', () => {
    let error: ProtocolError | undefined;
    try {
      parseMqttTopic('fleet/v9/s/r/telemetry');
    } catch (e) {
      error = e as ProtocolError;
    }
    if (error === undefined) throw new Error('expected an error');
    const headers = deadLetterHeaders({
      reason: error,
      sourceTopic: 'fleet/v9/s/r/telemetry',
      receivedAt: 1_700_000_000_123,
    });
    expect([...headers.keys()]).toEqual([
      DeadLetterHeader.reasonCode,
      DeadLetterHeader.reasonText,
      DeadLetterHeader.sourceTopic,
      DeadLetterHeader.receivedAt,
    ]);
    expect(new TextDecoder().decode(headers.get(DeadLetterHeader.receivedAt))).toBe('1700000000123');
    expect(parseDeadLetterHeaders(headers)).toEqual({
      reasonCode: ProtocolErrorCode.BAD_TOPIC,
      reasonText: error.message,
      sourceTopic: 'fleet/v9/s/r/telemetry',
      receivedAt: 1_700_000_000_123,
    });
  });

  it('accept reasons that are not decoding errors, truncate long text, and parse from Buffer keys', () => {
    const headers = deadLetterHeaders({
      reason: { code: DeadLetterReason.TOPIC_MISMATCH, message: 'x'.repeat(5000) },
      sourceTopic: 'fleet/v1/s/r/events',
      receivedAt: 0,
    });
    const asBuffers = [...headers].map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const);
    const parsed = parseDeadLetterHeaders(asBuffers);
    expect(parsed.reasonCode).toBe('DLQ_TOPIC_MISMATCH');
    expect(parsed.reasonText).toHaveLength(MAX_REASON_TEXT_LENGTH);
  });

  it('reject missing or malformed headers with INVALID_MESSAGE', () => {
    const good = deadLetterHeaders({
      reason: { code: DeadLetterReason.UNAUTHORISED, message: 'no' },
      sourceTopic: 't',
      receivedAt: 5,
    });
    const without = new Map(good);
    without.delete(DeadLetterHeader.sourceTopic);
    expectProtocolError(
      () => parseDeadLetterHeaders(without),
      ProtocolErrorCode.INVALID_MESSAGE,
      DeadLetterHeader.sourceTopic,
    );
    const badTime = new Map(good).set(DeadLetterHeader.receivedAt, bytes('yesterday'));
    expectProtocolError(
      () => parseDeadLetterHeaders(badTime),
      ProtocolErrorCode.INVALID_MESSAGE,
      DeadLetterHeader.receivedAt,
    );
    const badCode = new Map(good).set(DeadLetterHeader.reasonCode, bytes('OOPS'));
    expectProtocolError(() => parseDeadLetterHeaders(badCode), ProtocolErrorCode.INVALID_MESSAGE, '"OOPS"');
    expect(() =>
      deadLetterHeaders({
        reason: { code: DeadLetterReason.UNAUTHORISED, message: '' },
        sourceTopic: 't',
        receivedAt: -1,
      }),
    ).toThrow(RangeError);
  });
});
