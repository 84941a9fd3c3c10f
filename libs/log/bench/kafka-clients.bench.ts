/**
 * Kafka client benchmark: kafkajs 2.2.4 vs @platformatic/kafka 1.35.0, side by side in one run,
 * against one real broker. Decision record: docs/decisions/0002-kafka-client.md.
 *
 *   npm run bench:kafka-clients            # starts a broker with the test harness (scripts/kafka.ts exec)
 *   KAFKA_BROKERS=host:port npx tsx libs/log/bench/kafka-clients.bench.ts
 *
 * Workload, the same for every contender:
 *   produce: records of 4 KiB random (incompressible) bytes, the size of one batch of ~100 telemetry
 *            samples, keyed by robot id (1,000 robots), to a topic of 8 partitions, each record's
 *            partition = partitionFor(robot id, 8) from @fleet/protocol. acks=all, idempotent
 *            producer, no compression, send() calls of 500 records awaited one after the other
 *            (one request in flight: what an idempotent producer with ordering guarantees does).
 *   consume: read one topic of the same records from the beginning to the end. kafkajs and
 *            @platformatic/kafka through their consumer-group readers (kafkajs has no other), fresh
 *            group per run, the clock starting at the first record (group join reported apart).
 * A third contender, @fleet/log, is this package on top of @platformatic/kafka: its producer and its
 * reader over explicitly assigned partitions (low-level Fetch), the path the stream runtime uses.
 * Runs rotate the order of the contenders after one unmeasured warm-up each; medians.
 * Writes bench-results/kafka-clients.json.
 */
import { Consumer, Producer, Admin, ProduceAcks, MessagesStreamModes } from '@platformatic/kafka';
import { partitionFor } from '@fleet/protocol';
import kafkajs from 'kafkajs';
import { createKafkaLog, type ProduceRecord } from '../src/index.js';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const brokersEnv = process.env['KAFKA_BROKERS'];
if (brokersEnv === undefined || brokersEnv === '') {
  throw new Error(
    'KAFKA_BROKERS is not set. Run `npm run bench:kafka-clients`, which starts a broker for the run.',
  );
}
const BROKERS = brokersEnv.split(',');
const KAFKA_VERSION = process.env['KAFKA_VERSION'] ?? 'unknown';

const arg = (name: string, fallback: number): number => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : Number(hit.slice(name.length + 3));
};
const RECORDS = arg('records', 20_000);
const RUNS = arg('runs', 7);
const VALUE_BYTES = 4096;
const PARTITIONS = 8;
const ROBOTS = 1000;
const BATCH = 500;
const RUN_ID = Date.now().toString(36);

type ClientName = 'kafkajs' | 'platformatic' | 'fleetLog';
const CLIENTS: readonly ClientName[] = ['kafkajs', 'platformatic', 'fleetLog'];
const LABELS: Readonly<Record<ClientName, string>> = {
  kafkajs: 'kafkajs 2.2.4',
  platformatic: '@platformatic/kafka 1.35.0',
  fleetLog: '@fleet/log (platformatic, manual fetch)',
};

interface Workload {
  readonly keys: readonly string[];
  readonly keyBytes: readonly Buffer[];
  readonly partitions: readonly number[];
  readonly values: readonly Buffer[];
}

function workload(): Workload {
  const keys: string[] = [];
  const keyBytes: Buffer[] = [];
  const partitions: number[] = [];
  const values: Buffer[] = [];
  // 64 distinct random values reused round-robin: incompressible, without 80 MB of live buffers.
  const pool = Array.from({ length: 64 }, () => randomBytes(VALUE_BYTES));
  for (let i = 0; i < RECORDS; i++) {
    const key = `robot-${(i * 7919) % ROBOTS}`;
    keys.push(key);
    keyBytes.push(Buffer.from(key));
    partitions.push(partitionFor(key, PARTITIONS));
    values.push(pool[i % pool.length] as Buffer);
  }
  return { keys, keyBytes, partitions, values };
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
async function versionOf(pkg: string): Promise<string> {
  const json = JSON.parse(await readFile(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as {
    version: string;
  };
  return json.version;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

async function createTopic(topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: BROKERS });
  try {
    await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
    // Wait until every partition has a leader, so no client pays for topic creation.
    for (let i = 0; i < 100; i++) {
      const md = await admin.metadata({ topics: [topic], forceUpdate: true });
      const t = md.topics.get(topic);
      if (t !== undefined && t.partitions.length === PARTITIONS && t.partitions.every((p) => p.leader >= 0))
        return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`topic ${topic} has no leaders`);
  } finally {
    await admin.close();
  }
}

// ---------------------------------------------------------------------------------------------
// produce

async function produceKafkajs(topic: string, w: Workload): Promise<number> {
  const kafka = new kafkajs.Kafka({
    clientId: 'bench-kafkajs',
    brokers: BROKERS,
    logLevel: kafkajs.logLevel.ERROR,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  // Producer id allocation and metadata are set-up cost, not throughput.
  await producer.send({ topic, acks: -1, messages: [{ key: 'warm', value: Buffer.alloc(1), partition: 0 }] });
  const t0 = performance.now();
  for (let i = 0; i < RECORDS; i += BATCH) {
    const messages: kafkajs.Message[] = [];
    for (let j = i; j < Math.min(i + BATCH, RECORDS); j++) {
      messages.push({
        key: w.keys[j] as string,
        value: w.values[j] as Buffer,
        partition: w.partitions[j] as number,
      });
    }
    await producer.send({ topic, acks: -1, messages });
  }
  const ms = performance.now() - t0;
  await producer.disconnect();
  return ms;
}

async function producePlatformatic(topic: string, w: Workload): Promise<number> {
  const producer = new Producer({
    clientId: 'bench-platformatic',
    bootstrapBrokers: BROKERS,
    idempotent: true,
    acks: ProduceAcks.ALL,
  });
  await producer.send({
    messages: [{ topic, key: Buffer.from('warm'), value: Buffer.alloc(1), partition: 0 }],
  });
  const t0 = performance.now();
  for (let i = 0; i < RECORDS; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(i + BATCH, RECORDS); j++) {
      messages.push({
        topic,
        key: w.keyBytes[j] as Buffer,
        value: w.values[j] as Buffer,
        partition: w.partitions[j] as number,
      });
    }
    await producer.send({ messages });
  }
  const ms = performance.now() - t0;
  await producer.close();
  return ms;
}

async function produceFleetLog(topic: string, w: Workload): Promise<number> {
  const producer = createKafkaLog({ brokers: BROKERS, clientId: 'bench-fleet-log' }).producer();
  await producer.send([{ topic, key: 'warm', value: new Uint8Array(1), partition: 0 }]);
  const t0 = performance.now();
  for (let i = 0; i < RECORDS; i += BATCH) {
    const records: ProduceRecord[] = [];
    // No partition given: @fleet/log applies partitionFor(key, 8) itself.
    for (let j = i; j < Math.min(i + BATCH, RECORDS); j++)
      records.push({ topic, key: w.keys[j] as string, value: w.values[j] as Buffer });
    await producer.send(records);
  }
  const ms = performance.now() - t0;
  await producer.close();
  return ms;
}

// ---------------------------------------------------------------------------------------------
// consume: `total` = RECORDS + 1 warm-up record per produced topic

interface ConsumeTiming {
  readonly ms: number;
  readonly joinMs: number;
}

async function consumeKafkajs(topic: string, total: number): Promise<ConsumeTiming> {
  const kafka = new kafkajs.Kafka({
    clientId: 'bench-kafkajs',
    brokers: BROKERS,
    logLevel: kafkajs.logLevel.ERROR,
  });
  const consumer = kafka.consumer({
    groupId: `bench-kafkajs-${RUN_ID}-${randomBytes(4).toString('hex')}`,
    maxBytes: 10 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const start = performance.now();
  let first = 0;
  let seen = 0;
  let bytes = 0;
  await new Promise<void>((resolveDone, reject) => {
    consumer
      .run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (first === 0) first = performance.now();
          for (const m of batch.messages) bytes += m.value?.length ?? 0;
          seen += batch.messages.length;
          if (seen >= total) resolveDone();
        },
      })
      .catch(reject);
  });
  const end = performance.now();
  await consumer.disconnect();
  if (bytes < RECORDS * VALUE_BYTES) throw new Error(`kafkajs read ${bytes} bytes`);
  return { ms: end - first, joinMs: first - start };
}

async function consumePlatformatic(topic: string, total: number): Promise<ConsumeTiming> {
  const consumer = new Consumer({
    clientId: 'bench-platformatic',
    groupId: `bench-platformatic-${RUN_ID}-${randomBytes(4).toString('hex')}`,
    bootstrapBrokers: BROKERS,
    maxBytes: 10 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
    maxWaitTime: 500,
  });
  const start = performance.now();
  const stream = await consumer.consume({
    topics: [topic],
    mode: MessagesStreamModes.EARLIEST,
    autocommit: false,
  });
  let first = 0;
  let seen = 0;
  let bytes = 0;
  for await (const message of stream) {
    if (first === 0) first = performance.now();
    bytes += message.value.length;
    if (++seen >= total) break;
  }
  const end = performance.now();
  await stream.close();
  await consumer.close();
  if (bytes < RECORDS * VALUE_BYTES) throw new Error(`platformatic read ${bytes} bytes`);
  return { ms: end - first, joinMs: first - start };
}

/** The stream runtime's read path: explicitly assigned partitions from offset 0, no group. */
async function consumeFleetLog(topic: string, total: number): Promise<ConsumeTiming> {
  const reader = createKafkaLog({ brokers: BROKERS, clientId: 'bench-fleet-log' }).reader({
    assignments: Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 0n })),
    maxBytes: 10 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
    maxWaitMs: 500,
  });
  const start = performance.now();
  let first = 0;
  let seen = 0;
  let bytes = 0;
  while (seen < total) {
    for (const batch of await reader.poll()) {
      if (first === 0) first = performance.now();
      for (const r of batch.records) bytes += r.value?.length ?? 0;
      seen += batch.records.length;
    }
  }
  const end = performance.now();
  await reader.close();
  if (bytes < RECORDS * VALUE_BYTES) throw new Error(`fleet-log read ${bytes} bytes`);
  return { ms: end - first, joinMs: first - start };
}

// ---------------------------------------------------------------------------------------------

interface Series {
  produceMs: number[];
  consumeMs: number[];
  consumeJoinMs: number[];
}

function rate(ms: number): { recordsPerSec: number; mbPerSec: number } {
  const recordsPerSec = RECORDS / (ms / 1000);
  return {
    recordsPerSec: Math.round(recordsPerSec),
    mbPerSec: +((recordsPerSec * VALUE_BYTES) / 1e6).toFixed(1),
  };
}

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((x) => +x.toFixed(2));
  const w = workload();
  const series: Record<ClientName, Series> = {
    kafkajs: { produceMs: [], consumeMs: [], consumeJoinMs: [] },
    platformatic: { produceMs: [], consumeMs: [], consumeJoinMs: [] },
    fleetLog: { produceMs: [], consumeMs: [], consumeJoinMs: [] },
  };
  const produce = { kafkajs: produceKafkajs, platformatic: producePlatformatic, fleetLog: produceFleetLog };
  const consume = { kafkajs: consumeKafkajs, platformatic: consumePlatformatic, fleetLog: consumeFleetLog };

  console.error(
    `kafka-clients bench: ${RECORDS} records x ${VALUE_BYTES} B, ${PARTITIONS} partitions, ${RUNS} runs + 1 warm-up, brokers ${BROKERS.join(',')}`,
  );
  let consumeTopic: string | undefined;
  for (let run = 0; run <= RUNS; run++) {
    // Rotate the order so that no client always runs first (or right after the same one).
    const order = CLIENTS.map((_, i) => CLIENTS[(i + run) % CLIENTS.length] as ClientName);
    for (const client of order) {
      const topic = `bench.${RUN_ID}.${client}.${run}`;
      await createTopic(topic);
      const pMs = await produce[client](topic, w);
      consumeTopic ??= topic;
      const c = await consume[client](consumeTopic, RECORDS + 1);
      const label = run === 0 ? 'warm-up' : `run ${run}`;
      console.error(
        `  ${label.padEnd(7)} ${client.padEnd(13)} produce ${rate(pMs).recordsPerSec.toString().padStart(7)} rec/s   consume ${rate(c.ms).recordsPerSec.toString().padStart(7)} rec/s (join ${c.joinMs.toFixed(0)} ms)`,
      );
      if (run === 0) continue;
      series[client].produceMs.push(pMs);
      series[client].consumeMs.push(c.ms);
      series[client].consumeJoinMs.push(c.joinMs);
    }
  }

  const summarize = (s: Series) => ({
    produce: {
      medianMs: +median(s.produceMs).toFixed(1),
      ...rate(median(s.produceMs)),
      runsMs: s.produceMs.map((x) => +x.toFixed(1)),
    },
    consume: {
      medianMs: +median(s.consumeMs).toFixed(1),
      ...rate(median(s.consumeMs)),
      runsMs: s.consumeMs.map((x) => +x.toFixed(1)),
      medianGroupJoinMs: +median(s.consumeJoinMs).toFixed(0),
    },
  });
  const summary = {
    kafkajs: summarize(series.kafkajs),
    platformatic: summarize(series.platformatic),
    fleetLog: summarize(series.fleetLog),
  };
  const over = (c: ClientName) => ({
    produce: +(summary[c].produce.recordsPerSec / summary.kafkajs.produce.recordsPerSec).toFixed(2),
    consume: +(summary[c].consume.recordsPerSec / summary.kafkajs.consume.recordsPerSec).toFixed(2),
  });
  const ratio = over('platformatic');
  const fleetLogRatio = over('fleetLog');

  const rows = [
    ['client', 'produce rec/s', 'produce MB/s', 'consume rec/s', 'consume MB/s'],
    ...CLIENTS.map((c) => [
      LABELS[c],
      String(summary[c].produce.recordsPerSec),
      String(summary[c].produce.mbPerSec),
      String(summary[c].consume.recordsPerSec),
      String(summary[c].consume.mbPerSec),
    ]),
    ['ratio platformatic / kafkajs', `${ratio.produce}x`, '', `${ratio.consume}x`, ''],
    ['ratio @fleet/log / kafkajs', `${fleetLogRatio.produce}x`, '', `${fleetLogRatio.consume}x`, ''],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows)
    console.log(
      r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
    );

  const cpuList = cpus();
  const result = {
    benchmark: 'kafka-clients',
    date: new Date().toISOString(),
    command: 'npm run bench:kafka-clients',
    machine: {
      node: process.version,
      cpuModel: cpuList[0]?.model ?? 'unknown',
      cores: cpuList.length,
      memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
      platform: `${process.platform} ${process.arch}`,
      // 1/5/15-minute load averages: other work on the machine skews every figure.
      loadAvgAtStart: loadAtStart,
      loadAvgAtEnd: loadavg().map((x) => +x.toFixed(2)),
    },
    broker: { kafkaVersion: KAFKA_VERSION, brokers: BROKERS, sameMachine: true },
    workload: {
      records: RECORDS,
      valueBytes: VALUE_BYTES,
      partitions: PARTITIONS,
      robots: ROBOTS,
      recordsPerSend: BATCH,
      acks: 'all',
      idempotent: true,
      compression: 'none',
      runs: RUNS,
    },
    clients: {
      kafkajs: await versionOf('kafkajs'),
      '@platformatic/kafka': await versionOf('@platformatic/kafka'),
    },
    results: summary,
    ratioPlatformaticOverKafkajs: ratio,
    ratioFleetLogOverKafkajs: fleetLogRatio,
    notes: [
      'consume: kafkajs and platformatic through their consumer-group readers (fresh group, from earliest); fleetLog through its reader over explicitly assigned partitions (low-level Fetch of @platformatic/kafka), the path the stream runtime uses.',
      'consume clock starts at the first record; medianGroupJoinMs is the time before it.',
      'broker on the same 2-core machine as the clients: figures include the broker competing for CPU.',
    ],
  };
  const out = join(root, 'bench-results', 'kafka-clients.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.error(`wrote ${out}`);
}

await main();
