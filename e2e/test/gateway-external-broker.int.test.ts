/**
 * The gateway in external-broker mode: Mosquitto (Debian's, an independent broker) holds the robot
 * connections, and two gateway instances join one shared subscription group and bridge into the
 * run's real Kafka broker. Each robot message reaches Kafka through exactly one of them; bad
 * payloads are dead-lettered; time/req is answered through the external broker.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startMosquitto, type MosquittoBroker } from '@fleet/edge-testing';
import { parseConfig, startGateway, type Gateway } from '@fleet/gateway';
import { createKafkaLog, type LogRecord } from '@fleet/log';
import {
  DeadLetterHeader,
  KafkaTopics,
  decodeMessage,
  decodeTelemetryBatch,
  encodeMessage,
  encodeTelemetryBatch,
  mqttTopic,
  type TelemetrySample,
} from '@fleet/protocol';
import { createTestDatabase, type TestDatabase } from '@fleet/testing';

const SITE = 'site-x';
let mosquitto: MosquittoBroker;
let db: TestDatabase;
const gateways: Gateway[] = [];
let brokers: string[];

function sample(robotId: string, seq: number): TelemetrySample {
  return {
    kind: 'telemetry',
    robotId,
    bootId: 1,
    seq,
    eventTime: Date.now() - 1000 + seq,
    voltageMv: 14_000,
    currentMa: 900,
    socPermille: 700,
    batteryTempDeciC: 300,
    cycleCount: 5,
    siteId: SITE,
    xMm: seq,
    yMm: 0,
    headingCdeg: 0,
    speedMmS: 200,
    dirtLevel: 3,
    mode: 'cleaning',
    errorFlags: 0,
  };
}

async function tail(topic: string): Promise<{
  read(done: (r: LogRecord[]) => boolean, ms?: number): Promise<LogRecord[]>;
  close(): Promise<void>;
}> {
  const log = createKafkaLog({ brokers, clientId: 'e2e-external-tail' });
  const admin = log.admin();
  const ends = await admin.endOffsets(topic);
  await admin.close();
  const reader = log.reader({
    assignments: ends.map((offset, partition) => ({ topic, partition, offset })),
    maxWaitMs: 100,
  });
  const records: LogRecord[] = [];
  return {
    async read(done, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!done(records) && Date.now() < deadline)
        for (const b of await reader.poll()) records.push(...b.records);
      return records;
    },
    close: () => reader.close(),
  };
}

beforeAll(async () => {
  brokers = inject('kafkaBrokers').split(',');
  mosquitto = await startMosquitto({ allowAnonymous: true });
  db = await createTestDatabase(inject('databaseUrl'), 'gw_external');
  const group = `g${randomBytes(3).toString('hex')}`;
  for (const name of ['a', 'b']) {
    const config = parseConfig({
      gatewayId: `gw-ext-${name}-${randomBytes(2).toString('hex')}`,
      kafka: { brokers, partitions: 4 },
      databaseUrl: db.url,
      mqtt: { mode: 'external', external: { url: mosquitto.url, group } },
      http: null,
      commands: { enabled: false },
    });
    const sink = new Writable({ write: (_c, _e, done) => done() });
    gateways.push(await startGateway(config, { logger: pino({ level: 'warn' }, sink) }));
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await mosquitto?.stop();
  await db?.drop();
});

describe('external broker with a shared subscription', () => {
  let robot: MqttClient;
  const robotId = `ext-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    robot = await mqtt.connectAsync(mosquitto.url, { clientId: robotId, reconnectPeriod: 0 });
  });
  afterAll(() => robot?.endAsync());

  it('bridges every telemetry batch into Kafka exactly once across the two gateways', async () => {
    // Both gateways share ONE group, so each message goes to one member.
    expect(gateways).toHaveLength(2);
    const telemetry = await tail(KafkaTopics.telemetry);
    const topic = mqttTopic('telemetry', SITE, robotId);
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const batch = Buffer.from(encodeTelemetryBatch([sample(robotId, i * 2), sample(robotId, i * 2 + 1)]));
      sent.push(batch);
      await robot.publishAsync(topic, batch, { qos: 1 });
    }
    const records = await telemetry.read(
      (r) => r.filter((x) => Buffer.from(x.key ?? []).toString() === robotId).length >= 40,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await telemetry.read(() => false, 500);
    const mine = records.filter((x) => Buffer.from(x.key ?? []).toString() === robotId);
    const seqs = mine
      .flatMap((r) => decodeTelemetryBatch(r.value ?? new Uint8Array()).samples.map((s) => s.seq))
      .sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 80 }, (_, i) => i));
    await telemetry.close();
  });

  it('dead-letters a malformed payload and keeps bridging', async () => {
    const dlq = await tail(KafkaTopics.deadLetter);
    const topic = mqttTopic('events', SITE, robotId);
    await robot.publishAsync(topic, Buffer.from('not a message'), { qos: 1 });
    const letters = await dlq.read((r) =>
      r.some((x) => Buffer.from(x.headers[DeadLetterHeader.sourceTopic] ?? []).toString() === topic),
    );
    const letter = letters.find(
      (x) => Buffer.from(x.headers[DeadLetterHeader.sourceTopic] ?? []).toString() === topic,
    );
    expect(Buffer.from(letter?.value ?? []).toString()).toBe('not a message');
    expect(Buffer.from(letter?.headers[DeadLetterHeader.reasonCode] ?? []).toString()).toMatch(/^PROTOCOL_/);
    await dlq.close();
  });

  it('answers time/req through the external broker', async () => {
    await robot.subscribeAsync(mqttTopic('time/resp', SITE, robotId), { qos: 0 });
    const answer = new Promise<Buffer>((resolve) => robot.once('message', (_t, payload) => resolve(payload)));
    await robot.publishAsync(
      mqttTopic('time/req', SITE, robotId),
      Buffer.from(
        encodeMessage({ kind: 'time_sync_request', robotId, requestId: 7, agentSendTime: Date.now() }),
      ),
      { qos: 1 },
    );
    expect(decodeMessage(await answer)).toMatchObject({ kind: 'time_sync_response', robotId, requestId: 7 });
  });

  it('forwards presence published by the agent, stamping a last will with the receive time', async () => {
    const presence = await tail(KafkaTopics.presence);
    const before = Date.now();
    const will = {
      kind: 'presence' as const,
      robotId,
      online: false,
      reason: 'last_will' as const,
      at: 1000,
    };
    const agent = await mqtt.connectAsync(mosquitto.url, {
      clientId: `${robotId}-agent`,
      reconnectPeriod: 0,
      will: {
        topic: mqttTopic('presence', SITE, robotId),
        payload: Buffer.from(encodeMessage(will)),
        qos: 1,
        retain: true,
      },
    });
    agent.stream.destroy();
    const records = await presence.read((r) =>
      r.some((x) => Buffer.from(x.key ?? []).toString() === robotId),
    );
    const written = decodeMessage(
      records.find((x) => Buffer.from(x.key ?? []).toString() === robotId)?.value ?? new Uint8Array(),
    );
    expect(written).toMatchObject({ kind: 'presence', robotId, online: false, reason: 'last_will' });
    expect(written.kind === 'presence' && written.at >= before).toBe(true);
    await presence.close();
  });
});
