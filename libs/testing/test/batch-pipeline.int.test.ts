/**
 * Integration, all real: the Kafka broker and the PostgreSQL server of the run's global setup.
 *
 * The foundation's path end to end: telemetry samples are encoded as binary batch records
 * (libs/protocol), produced to Kafka keyed by robot id with acks=all (libs/log), read back from
 * explicitly assigned partitions, decoded, and written to PostgreSQL (libs/db). A full replay of
 * the topic adds no row, and a record that is not a valid batch is reported with its typed error
 * while every other record still lands.
 */
import { createPool, insertTelemetrySamples, migrate, withTransaction } from '@fleet/db';
import { createKafkaLog, type Log, type LogRecord } from '@fleet/log';
import {
  ProtocolError,
  ProtocolErrorCode,
  KafkaTopics,
  ROBOT_MODES,
  decodeTelemetryBatch,
  encodeTelemetryBatches,
  partitionFor,
  type TelemetrySample,
} from '@fleet/protocol';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, uniqueTopic, type TestDatabase } from '../src/index.js';

const PARTITIONS = 4;
const ROBOTS = 40;
const SAMPLES_PER_ROBOT = 250;
const T0 = Date.UTC(2026, 10, 25, 8, 0, 0);

/** Deterministic samples: robot r, boot 1000 + r, seq 0..n-1, one every 100 ms. */
function samplesOf(robot: number): TelemetrySample[] {
  return Array.from({ length: SAMPLES_PER_ROBOT }, (_, seq) => ({
    kind: 'telemetry' as const,
    robotId: `robot-${robot}`,
    bootId: 1000 + robot,
    seq,
    eventTime: T0 + seq * 100 + robot,
    voltageMv: 25_200 - seq,
    currentMa: seq % 2 === 0 ? 1_800 : -400,
    socPermille: 1000 - (seq % 1000),
    batteryTempDeciC: 250 + (seq % 50),
    cycleCount: 100 + robot,
    siteId: `site-${robot % 3}`,
    xMm: seq * 10,
    yMm: -robot * 1000,
    headingCdeg: (seq * 37) % 36000,
    speedMmS: 300,
    dirtLevel: seq % 256,
    mode: ROBOT_MODES[seq % ROBOT_MODES.length] ?? 'idle',
    errorFlags: seq % 7 === 0 ? 0b101 : 0,
  }));
}

let log: Log;
let db: TestDatabase;
let pool: Pool;
const topic = uniqueTopic(KafkaTopics.telemetry);

beforeAll(async () => {
  log = createKafkaLog({ brokers: inject('kafkaBrokers').split(','), clientId: 'batch-pipeline-test' });
  db = await createTestDatabase(inject('databaseUrl'), 'batch_pipeline');
  pool = createPool({ url: db.url, max: 4 });
  await migrate(pool);
  await log.admin().createTopics([{ name: topic, partitions: PARTITIONS }]);
});

afterAll(async () => {
  await log
    ?.admin()
    .deleteTopics([topic])
    .catch(() => undefined);
  await log?.admin().close();
  await pool?.end();
  await db?.drop();
});

/** Reads every record of the topic from offset 0 to the end offsets measured now. */
async function readAll(): Promise<LogRecord[]> {
  const end = await log.admin().endOffsets(topic);
  const reader = log.reader({
    assignments: end.map((_, partition) => ({ topic, partition, offset: 0n })),
    maxWaitMs: 200,
  });
  const records: LogRecord[] = [];
  const position = new Map<number, bigint>(end.map((_, p) => [p, 0n]));
  try {
    const deadline = Date.now() + 30_000;
    while ([...position].some(([p, at]) => at < (end[p] ?? 0n))) {
      if (Date.now() > deadline) throw new Error(`timed out reading ${topic}: at ${[...position]} of ${end}`);
      for (const batch of await reader.poll()) {
        records.push(...batch.records);
        position.set(batch.partition, batch.nextOffset);
      }
    }
  } finally {
    await reader.close();
  }
  return records;
}

/** The consumer side of the pipeline: decode each record, write its samples in one transaction. */
async function store(records: readonly LogRecord[]): Promise<{ added: number; rejected: ProtocolError[] }> {
  let added = 0;
  const rejected: ProtocolError[] = [];
  for (const record of records) {
    let samples: readonly TelemetrySample[];
    try {
      samples = decodeTelemetryBatch(record.value ?? new Uint8Array()).samples;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      rejected.push(error);
      continue;
    }
    added += await withTransaction(pool, (client) => insertTelemetrySamples(client, samples));
  }
  return { added, rejected };
}

describe('batch records through the real Kafka broker into PostgreSQL', () => {
  const all = Array.from({ length: ROBOTS }, (_, r) => samplesOf(r)).flat();
  const batches = encodeTelemetryBatches(all, { maxSamples: 50 });

  it('produces, consumes and stores every sample exactly once, in order per robot', async () => {
    expect(batches).toHaveLength((ROBOTS * SAMPLES_PER_ROBOT) / 50);
    const producer = log.producer();
    try {
      const acked = await producer.send(
        batches.map((value) => ({ topic, key: decodeTelemetryBatch(value).robotId, value })),
      );
      expect(acked).toHaveLength(batches.length);
    } finally {
      await producer.close();
    }

    const records = await readAll();
    expect(records).toHaveLength(batches.length);
    for (const record of records) {
      const robotId = new TextDecoder().decode(record.key ?? new Uint8Array());
      expect(record.partition).toBe(partitionFor(robotId, PARTITIONS));
      expect(decodeTelemetryBatch(record.value ?? new Uint8Array()).robotId).toBe(robotId);
    }
    // Within a partition, each robot's batches arrive in the order they were produced.
    const lastSeq = new Map<string, number>();
    for (const record of [...records].sort(
      (a, b) => a.partition - b.partition || Number(a.offset - b.offset),
    )) {
      const batch = decodeTelemetryBatch(record.value ?? new Uint8Array());
      const first = batch.samples[0]?.seq ?? -1;
      expect(first).toBeGreaterThan(lastSeq.get(batch.robotId) ?? -1);
      lastSeq.set(batch.robotId, batch.samples.at(-1)?.seq ?? first);
    }

    const { added, rejected } = await store(records);
    expect(rejected).toEqual([]);
    expect(added).toBe(ROBOTS * SAMPLES_PER_ROBOT);

    const perRobot = await pool.query<{ robot_id: string; n: string; min_seq: string; max_seq: string }>(
      `SELECT robot_id, count(*) AS n, min(seq) AS min_seq, max(seq) AS max_seq
         FROM telemetry_samples GROUP BY robot_id ORDER BY robot_id`,
    );
    expect(perRobot.rows).toHaveLength(ROBOTS);
    for (const row of perRobot.rows) {
      expect([Number(row.n), Number(row.min_seq), Number(row.max_seq)]).toEqual([
        SAMPLES_PER_ROBOT,
        0,
        SAMPLES_PER_ROBOT - 1,
      ]);
    }
    // Values survive the whole path unchanged.
    const one = await pool.query(
      `SELECT voltage_mv, current_ma, heading_cdeg, mode, error_flags, (extract(epoch FROM event_time) * 1000)::bigint AS ms
         FROM telemetry_samples WHERE robot_id = 'robot-7' AND seq = 21`,
    );
    const expected = samplesOf(7)[21];
    expect(one.rows[0]).toEqual({
      voltage_mv: expected?.voltageMv,
      current_ma: expected?.currentMa,
      heading_cdeg: expected?.headingCdeg,
      mode: expected?.mode,
      error_flags: String(expected?.errorFlags),
      ms: String(expected?.eventTime),
    });
  });

  it('adds nothing when the whole topic is replayed', async () => {
    const { added } = await store(await readAll());
    expect(added).toBe(0);
    const count = await pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry_samples');
    expect(Number(count.rows[0]?.n)).toBe(ROBOTS * SAMPLES_PER_ROBOT);
  });

  it('rejects a record with an unknown schema version with a typed error, and stores the rest', async () => {
    const good = encodeTelemetryBatches(samplesOf(ROBOTS + 1), { maxSamples: 100 });
    const bad = Uint8Array.from(good[0] ?? []);
    bad[1] = 99; // the schema version byte
    const producer = log.producer();
    const before = await log.admin().endOffsets(topic);
    try {
      await producer.send([bad, ...good].map((value) => ({ topic, key: `robot-${ROBOTS + 1}`, value })));
    } finally {
      await producer.close();
    }
    const records = (await readAll()).filter((r) => r.offset >= (before[r.partition] ?? 0n));
    expect(records).toHaveLength(1 + good.length);

    const { added, rejected } = await store(records);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.code).toBe(ProtocolErrorCode.UNKNOWN_VERSION);
    expect(rejected[0]?.message).toMatch(/99/);
    expect(added).toBe(SAMPLES_PER_ROBOT);
  });
});
