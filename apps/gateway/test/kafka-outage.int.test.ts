/**
 * Fault: the Kafka broker is stopped for 30 s under steady load and restarted.
 *
 * Real parts: a Kafka broker of this test's own (the run's shared broker serves other tests, and
 * this one is stopped), started with a fixed data directory and port so that the restarted broker
 * keeps its log segments and its address; the run's PostgreSQL (credentials); the gateway in this
 * process (aedes on a loopback port, the bridge, the Kafka producer); 20 mqtt.js robots publishing
 * QoS 1 telemetry batches of 100 samples every 200 ms over persistent sessions (support/robot-load.ts).
 *
 * The checker: after the load has stopped and every batch is PUBACKed, the whole telemetry topic is
 * read from offset 0 and every (robot, boot, seq) a robot got a PUBACK for must be in it (QoS 1
 * duplicates allowed and counted). PUBACK waits for Kafka: no batch published after the broker was
 * gone was acknowledged before it was back, and no batch was acknowledged before its record was
 * written (the record's CreateTime is stamped by the gateway's producer when it builds the request).
 * Memory stays bounded: `fleet_gateway_inflight_bytes` never exceeded `bridge.maxInflightBytes`
 * while that budget was really reached, and the gateway stopped reading its sockets while Kafka was
 * down (what the robots wrote stayed in the kernel's TCP queues: support/fault-socket-queues.ts).
 * The failed produce attempts were counted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaTopics } from '@fleet/protocol';
import {
  createTestDatabase,
  freePort,
  startKafkaBroker,
  type KafkaBroker,
  type TestDatabase,
} from '@fleet/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../src/config.js';
import { startGateway, type Gateway } from '../src/gateway.js';
import { countSamples, firstWrites, readTopic } from './support/fault-kafka-read.js';
import { queuedBytes } from './support/fault-socket-queues.js';
import { RobotLoad, sampleKey, type LoadRobot } from './support/robot-load.js';

const ROBOTS = 20;
const OUTAGE_MS = 30_000;
const MAX_INFLIGHT_BYTES = 64 * 1024; // the smallest the configuration allows, so the load reaches it
/**
 * Each robot publishes a batch of 100 samples (38-byte rows: 3.8 KB) every 200 ms: 380 KB/s in all,
 * 11 MB over the outage; 20 batches waiting at once exceed the byte budget.
 */
const SAMPLES_PER_BATCH = 100;
const INTERVAL_MS = 200;
/**
 * Most the gateway may read off its sockets while Kafka is down: the byte budget, plus one socket
 * read (64 KiB) per connection that was under way when the budget ran out.
 */
const READ_BOUND = MAX_INFLIGHT_BYTES + ROBOTS * 64 * 1024;

let dataDir: string;
let port: number;
let broker: KafkaBroker | undefined;
let db: TestDatabase | undefined;
let gateway: Gateway | undefined;
let load: RobotLoad | undefined;
const robots: LoadRobot[] = [];
/** Gateway log lines by message, and the last few lines for a failure report. */
const logCounts = new Map<string, number>();
const lastLogs: string[] = [];

const brokers = (): string[] => [`127.0.0.1:${port}`];

async function gauge(name: string): Promise<number> {
  const metric = gateway?.metrics.registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  return values.reduce((sum, v) => sum + v.value, 0);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'fleet-gw-kafka-outage-'));
  port = await freePort();
  broker = await startKafkaBroker({ dataDir, port, partitions: 4 });
  console.log(
    `own Kafka broker on ${broker.brokers}: format ${broker.timings.formatMs} ms, start ${broker.timings.startMs} ms`,
  );
  db = await createTestDatabase(inject('databaseUrl'), 'gw_kafka_outage');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        const msg = String((JSON.parse(line) as { msg?: unknown }).msg);
        logCounts.set(msg, (logCounts.get(msg) ?? 0) + 1);
        lastLogs.push(line);
        if (lastLogs.length > 50) lastLogs.shift();
      }
      done();
    },
  });
  const config = parseConfig({
    gatewayId: `gw-kafka-outage-${randomBytes(3).toString('hex')}`,
    kafka: { brokers: brokers(), partitions: 4, deliveryTimeoutMs: 5000 },
    databaseUrl: db.url,
    mqtt: { tcp: { host: '127.0.0.1', port: 0 } },
    http: null,
    bridge: { maxInflightBytes: MAX_INFLIGHT_BYTES, retryInitialMs: 200, retryMaxMs: 2000 },
    logLevel: 'info',
  });
  gateway = await startGateway(config, { logger: pino({ level: config.logLevel }, sink) });
  for (let i = 0; i < ROBOTS; i++) {
    const robotId = `outage-${i}-${randomBytes(3).toString('hex')}`;
    robots.push({
      robotId,
      siteId: 'site-outage',
      secret: await gateway.credentials.provision(robotId, 'site-outage'),
    });
  }
}, 120_000);

afterAll(async () => {
  await load?.close();
  await gateway?.close();
  await broker?.stop();
  await db?.drop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}, 60_000);

describe('gateway: Kafka stopped for 30 s under steady load, then restarted', () => {
  it('has every PUBACKed (robot, boot, seq) in Kafka, acknowledges nothing while Kafka is down, and stays within its memory bound', async () => {
    const gatewayPort = gateway?.mqtt.addresses.tcp ?? 0;
    // keepalive 60 s: aedes drops a connection it has not read from for 90 s, longer than the
    // outage, so the socket accounting below sees the same connections throughout.
    load = await RobotLoad.start({
      url: `mqtt://127.0.0.1:${gatewayPort}`,
      robots,
      intervalMs: INTERVAL_MS,
      samplesPerBatch: SAMPLES_PER_BATCH,
      keepaliveSeconds: 60,
    });

    let maxInflight = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        maxInflight = Math.max(maxInflight, await gauge('fleet_gateway_inflight_bytes'));
        await sleep(10);
      }
    })();

    try {
      await sleep(10_000);
      const before = load.stats();
      expect(before.acked, 'batches acknowledged before the outage').toBeGreaterThan(ROBOTS * 20);

      // The outage. stop() sends SIGTERM and resolves when the JVM has exited: from then on
      // nothing can be acknowledged by Kafka.
      const stopAt = Date.now();
      await broker?.stop();
      const stoppedAt = Date.now();
      // Bytes the gateway takes off its sockets while Kafka is down: what the robots handed to the
      // kernel minus what is still queued there. With backpressure it stops reading and this stays
      // within the byte budget plus a read per connection; without, it grows with the outage (and
      // so does the gateway's heap, holding payloads that wait for the budget).
      const gatewayRead = async (): Promise<number> => {
        const q = await queuedBytes(gatewayPort);
        return (load?.bytesToKernel() ?? 0) - q.clientSendQ - q.serverRecvQ;
      };
      const readAtStop = await gatewayRead();
      let maxReadInOutage = 0;
      while (Date.now() < stoppedAt + OUTAGE_MS) {
        await sleep(500);
        maxReadInOutage = Math.max(maxReadInOutage, (await gatewayRead()) - readAtStop);
      }
      const lostInOutage = load.stats().connectionsLost;
      const restartAt = Date.now();
      // Same data directory (already formatted: no format step) and same port.
      broker = await startKafkaBroker({ dataDir, port, partitions: 4 });
      const restartedAt = Date.now();
      console.log(
        `broker stopped in ${stoppedAt - stopAt} ms; restarted in ${restartedAt - restartAt} ms ` +
          `(format ${broker.timings.formatMs} ms, JVM start to first metadata answer ${broker.timings.startMs} ms)`,
      );
      expect(broker.timings.formatMs, 'the kept data directory is reused, not formatted again').toBe(0);

      await sleep(10_000);
      load.stop();
      await load.drained(60_000);
      const drainedAt = Date.now();
      const stats = load.stats();
      polling = false;
      await poller;

      // 1. PUBACK waits for Kafka: nothing published after the broker was gone was acknowledged
      //    before the broker was started again.
      const afterStop = load.batches.filter((b) => b.firstPublishedAt > stoppedAt);
      const ackedInOutage = afterStop.filter((b) => (b.ackedAt ?? Infinity) < restartAt);
      expect(afterStop.length, 'batches published during the outage').toBeGreaterThan(ROBOTS * 100);
      expect(ackedInOutage, 'batches PUBACKed while Kafka was down').toEqual([]);
      const anyAckInOutage = load.batches.filter(
        (b) => b.ackedAt !== undefined && b.ackedAt > stoppedAt + 100 && b.ackedAt < restartAt,
      );
      expect(anyAckInOutage.length, 'PUBACKs of any batch between the stop and the restart').toBe(0);
      const firstAckAfter = Math.min(...afterStop.map((b) => b.ackedAt ?? Infinity));

      // 2. The checker: every PUBACKed (robot, boot, seq) is in Kafka.
      const acked = load.ackedSamples();
      const records = await readTopic(brokers(), KafkaTopics.telemetry);
      const inKafka = countSamples(records);
      const missing = [...acked].filter((k) => !inKafka.has(k));
      const duplicates = [...inKafka.values()].reduce((n, c) => n + c - 1, 0);
      const foreign = [...inKafka.keys()].filter((k) => !acked.has(k)).length;
      // ... and no PUBACK came before its batch was written: the producer stamps a record when it
      // builds the produce request, so a record stamped after the PUBACK was acknowledged early.
      const written = firstWrites(records);
      const ackedEarly = load.batches.filter(
        (b) =>
          b.ackedAt !== undefined &&
          (written.get(sampleKey(b.robotId, b.bootId, b.firstSeq)) ?? Infinity) > b.ackedAt,
      );

      // 3. Memory stayed bounded, and the bound was really reached (otherwise it proves nothing).
      const backpressureWaits = await gauge('fleet_gateway_backpressure_waits_total');
      const kafkaErrors = await gauge('fleet_gateway_kafka_errors_total');

      console.log(
        JSON.stringify({
          robots: ROBOTS,
          batches: stats.batches,
          samplesAcked: stats.samplesAcked,
          samplesInKafka: inKafka.size,
          kafkaRecords: records.length,
          duplicateSamples: duplicates,
          missing: missing.length,
          notAckedButInKafka: foreign,
          pubackedBeforeWritten: ackedEarly.length,
          publishedDuringOutage: afterStop.length,
          firstPubackAfterRestartMs: firstAckAfter - restartAt,
          drainAfterLoadStopMs: drainedAt - (restartedAt + 10_000),
          reconnects: stats.reconnects,
          connectionsLost: stats.connectionsLost,
          republishedByDriver: stats.republished,
          maxInflightBytes: maxInflight,
          maxBytesReadFromSocketsInOutage: maxReadInOutage,
          readBound: READ_BOUND,
          connectionsLostInOutage: lostInOutage,
          inflightLimit: MAX_INFLIGHT_BYTES,
          backpressureWaits,
          kafkaErrors,
          retryLogLines: logCounts.get('kafka produce failed; retrying') ?? 0,
          notAcknowledgedLogLines: logCounts.get('publish not acknowledged; closing the connection') ?? 0,
        }),
      );

      expect(missing.slice(0, 10), `${missing.length} PUBACKed samples missing from Kafka`).toEqual([]);
      expect(stats.pending).toBe(0);
      expect(
        ackedEarly
          .slice(0, 5)
          .map((b) => ({ ...b, writtenAt: written.get(sampleKey(b.robotId, b.bootId, b.firstSeq)) })),
        `${ackedEarly.length} batches PUBACKed before their record was written to Kafka`,
      ).toEqual([]);
      expect(maxInflight).toBeGreaterThan(0);
      expect(maxInflight, 'fleet_gateway_inflight_bytes above bridge.maxInflightBytes').toBeLessThanOrEqual(
        MAX_INFLIGHT_BYTES,
      );
      expect(backpressureWaits, 'publishes that waited for the byte budget').toBeGreaterThan(0);
      expect(lostInOutage, 'connections lost in the outage (the socket accounting needs them kept)').toBe(0);
      expect(
        maxReadInOutage,
        'bytes the gateway read off its sockets while Kafka was down (backpressure: it must stop reading)',
      ).toBeLessThanOrEqual(READ_BOUND);
      expect(kafkaErrors, 'failed produce attempts counted').toBeGreaterThan(0);
      expect(await gauge('fleet_gateway_inflight_bytes')).toBe(0);
    } finally {
      polling = false;
      await poller;
      if (lastLogs.length > 0 && (load?.stats().pending ?? 0) > 0) console.log(lastLogs.join('\n'));
    }
  }, 180_000);
});
