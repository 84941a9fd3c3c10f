/**
 * The bridge, through the real embedded broker into the run's real Kafka broker: what each channel
 * becomes in Kafka, what is dead-lettered and why, the time reference, presence and the commands
 * downlink. Clients are real mqtt.js connections on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaLog, type LogRecord } from '@fleet/log';
import {
  DeadLetterHeader,
  KafkaTopics,
  decodeMessage,
  decodeTelemetryBatch,
  encodeMessage,
  encodeTelemetryBatch,
  mqttTopic,
  partitionFor,
  type Message,
} from '@fleet/protocol';
import { KafkaTail } from './support/kafka-tail.js';
import { openGatewayRig, type GatewayRig, type Robot } from './support/gateway-rig.js';
import { samples } from './support/samples.js';

let rig: GatewayRig;
let robot: Robot;

beforeAll(async () => {
  rig = await openGatewayRig('bridge');
  robot = await rig.robot('bridge');
});
afterAll(() => rig?.close());

const text = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? []).toString('utf8');
const keyOf = (r: { key: Uint8Array | null }): string => text(r.key ?? undefined);

async function tails<const T extends readonly string[]>(
  ...topics: T
): Promise<{ [K in keyof T]: KafkaTail }> {
  return (await Promise.all(topics.map((t) => KafkaTail.open(rig.brokers, t)))) as {
    [K in keyof T]: KafkaTail;
  };
}

describe('telemetry', () => {
  it('lands in fleet.telemetry.v1 byte for byte, keyed by robot, in the partition partitionFor gives', async () => {
    const [telemetry] = await tails(KafkaTopics.telemetry);
    const client = await rig.connect(robot);
    const batches = [0, 50, 100].map((seq) =>
      Buffer.from(encodeTelemetryBatch(samples(robot.robotId, robot.siteId, 7, seq, 50))),
    );
    for (const batch of batches)
      await client.publishAsync(mqttTopic('telemetry', robot.siteId, robot.robotId), batch, { qos: 1 });
    const records = await telemetry.until((r) => r.length >= 3);
    expect(records.map((r) => Buffer.from(r.value ?? []))).toEqual(batches);
    expect(new Set(records.map(keyOf))).toEqual(new Set([robot.robotId]));
    // The topic may have been created by another test with another count: partition by what exists.
    const admin = createKafkaLog({ brokers: rig.brokers, clientId: 'gateway-test-admin' }).admin();
    const partitions = await admin.partitionCount(KafkaTopics.telemetry);
    await admin.close();
    expect(records.every((r) => r.partition === partitionFor(robot.robotId, partitions))).toBe(true);
    await Promise.all([client.endAsync(), telemetry.close()]);
  });

  it('accepts a JSON sample for debugging and writes it as a binary batch', async () => {
    const [telemetry] = await tails(KafkaTopics.telemetry);
    const client = await rig.connect(robot);
    const [sample] = samples(robot.robotId, robot.siteId, 7, 500, 1);
    await client.publishAsync(mqttTopic('telemetry', robot.siteId, robot.robotId), JSON.stringify(sample), {
      qos: 1,
    });
    const [record] = await telemetry.until((r) => r.length >= 1);
    expect(decodeTelemetryBatch(record?.value ?? new Uint8Array()).samples).toEqual([sample]);
    await Promise.all([client.endAsync(), telemetry.close()]);
  });
});

describe('bad input', () => {
  it('dead-letters malformed and mismatched payloads with their reason and bytes; the connection keeps flowing', async () => {
    const [telemetry, dlq] = await tails(KafkaTopics.telemetry, KafkaTopics.deadLetter);
    const other = await rig.robot('other');
    const client = await rig.connect(robot);
    const topic = mqttTopic('telemetry', robot.siteId, robot.robotId);
    const good = Buffer.from(encodeTelemetryBatch(samples(robot.robotId, robot.siteId, 8, 0, 10)));
    const garbage = Buffer.from([0xfb, 0x01, 0x02, 0xff, 0x00, 0x13]);
    const truncated = good.subarray(0, good.length - 7);
    const foreignBatch = Buffer.from(encodeTelemetryBatch(samples(other.robotId, other.siteId, 8, 0, 10)));
    const badJson = Buffer.from('{"kind":"telemetry","robotId":');
    const eventOnTelemetry = Buffer.from(
      encodeMessage({
        kind: 'command_ack',
        commandId: 'c-1',
        robotId: robot.robotId,
        outcome: 'completed',
        source: 'firmware',
        robotTime: Date.now(),
      }),
    );
    for (const payload of [garbage, good, truncated, foreignBatch, badJson, eventOnTelemetry]) {
      await client.publishAsync(topic, payload, { qos: 1 });
    }
    const letters = await dlq.until((r) => r.length >= 5);
    const byPayload = new Map(
      letters.map((l) => [
        Buffer.from(l.value ?? []).toString('hex'),
        text(l.headers[DeadLetterHeader.reasonCode]),
      ]),
    );
    expect(byPayload.get(garbage.toString('hex'))).toMatch(/^PROTOCOL_/);
    expect(byPayload.get(truncated.toString('hex'))).toMatch(/^PROTOCOL_/);
    expect(byPayload.get(foreignBatch.toString('hex'))).toBe('DLQ_TOPIC_MISMATCH');
    expect(byPayload.get(badJson.toString('hex'))).toBe('PROTOCOL_INVALID_MESSAGE');
    expect(byPayload.get(eventOnTelemetry.toString('hex'))).toBe('DLQ_TOPIC_MISMATCH');
    for (const letter of letters) {
      expect(text(letter.headers[DeadLetterHeader.sourceTopic])).toBe(topic);
      expect(text(letter.headers[DeadLetterHeader.reasonText]).length).toBeGreaterThan(0);
    }
    // The valid batch between the bad ones arrived; nothing else did.
    const arrived = await telemetry.until((r) => r.length >= 1);
    await telemetry.settle(300);
    expect(arrived.map((r) => Buffer.from(r.value ?? []))).toEqual([good]);
    expect(client.connected).toBe(true);
    await Promise.all([client.endAsync(), telemetry.close(), dlq.close()]);
  });
});

describe('events, acks and the time reference', () => {
  it('routes robot events and command acks to their topics', async () => {
    const [events, acks] = await tails(KafkaTopics.robotEvents, KafkaTopics.commandAcks);
    const client = await rig.connect(robot);
    const event: Message = {
      kind: 'robot_event',
      robotId: robot.robotId,
      bootId: 9,
      seq: 3,
      eventTime: Date.now(),
      event: { type: 'fault_raised', code: 17, message: 'brush stall' },
    };
    const ack: Message = {
      kind: 'command_ack',
      commandId: 'cmd-1',
      robotId: robot.robotId,
      outcome: 'completed',
      source: 'firmware',
      robotTime: Date.now(),
    };
    await client.publishAsync(
      mqttTopic('events', robot.siteId, robot.robotId),
      Buffer.from(encodeMessage(event)),
      { qos: 1 },
    );
    await client.publishAsync(
      mqttTopic('acks', robot.siteId, robot.robotId),
      Buffer.from(encodeMessage(ack)),
      { qos: 1 },
    );
    const [e] = await events.until((r) =>
      r.some((x) => decodeMessage(x.value ?? new Uint8Array()).kind === 'robot_event'),
    );
    expect(
      (await events.until(() => true))
        .map((r) => decodeMessage(r.value ?? new Uint8Array()))
        .filter((m) => m.kind === 'robot_event'),
    ).toEqual([event]);
    expect(e).toBeDefined();
    const [a] = await acks.until((r) => r.length >= 1);
    expect(decodeMessage(a?.value ?? new Uint8Array())).toEqual(ack);
    await Promise.all([client.endAsync(), events.close(), acks.close()]);
  });

  it("answers time/req on the robot's time/resp with the gateway clock", async () => {
    const client = await rig.connect(robot);
    await client.subscribeAsync(mqttTopic('time/resp', robot.siteId, robot.robotId), { qos: 0 });
    const answered = new Promise<Message>((resolve) =>
      client.once('message', (_t, payload) => resolve(decodeMessage(payload))),
    );
    const t0 = Date.now() - 5000; // an agent whose clock runs 5 s behind
    const before = Date.now();
    await client.publishAsync(
      mqttTopic('time/req', robot.siteId, robot.robotId),
      Buffer.from(
        encodeMessage({
          kind: 'time_sync_request',
          robotId: robot.robotId,
          requestId: 42,
          agentSendTime: t0,
        }),
      ),
      { qos: 1 },
    );
    const response = await answered;
    expect(response).toMatchObject({
      kind: 'time_sync_response',
      robotId: robot.robotId,
      requestId: 42,
      agentSendTime: t0,
    });
    if (response.kind !== 'time_sync_response') throw new Error('unreachable');
    expect(response.gatewayReceiveTime).toBeGreaterThanOrEqual(before);
    expect(response.gatewaySendTime).toBeGreaterThanOrEqual(response.gatewayReceiveTime);
    expect(response.gatewaySendTime).toBeLessThanOrEqual(Date.now());
    await client.endAsync();
  });
});

describe('presence', () => {
  // A robot of its own: another test's disconnect of `robot` could still be inside the grace period.
  let robot: Robot;
  beforeAll(async () => {
    robot = await rig.robot('presence');
  });

  it('writes connects, clean disconnects and lost connections to the events topic and the compacted presence topic', async () => {
    const [presence, events] = await tails(KafkaTopics.presence, KafkaTopics.robotEvents);
    const mine = (r: readonly LogRecord[]): LogRecord[] => r.filter((x) => keyOf(x) === robot.robotId);
    const first = await rig.connect(robot);
    await first.endAsync(); // DISCONNECT packet
    // An offline change is written after the presence grace period (1 s) unless the robot is back.
    await presence.until((r) => mine(r).length >= 2);
    const second = await rig.connect(robot);
    second.stream.destroy(); // connection lost: the broker fires the last will
    const seen = await presence.until((r) => mine(r).length >= 4);
    const states = mine(seen).map((r) => decodeMessage(r.value ?? new Uint8Array()));
    expect(states.map((s) => (s.kind === 'presence' ? `${s.online}:${s.reason}` : s.kind))).toEqual([
      'true:connected',
      'false:disconnected',
      'true:connected',
      'false:last_will',
    ]);
    const history = await events.until((r) => mine(r).length >= 4);
    expect(mine(history).map((r) => Buffer.from(r.value ?? []))).toEqual(
      mine(seen).map((r) => Buffer.from(r.value ?? [])),
    );
    await Promise.all([presence.close(), events.close()]);
  });

  it('writes nothing when a robot reconnects before its old connection is gone (session takeover)', async () => {
    const [presence] = await tails(KafkaTopics.presence);
    const mine = (r: readonly LogRecord[]): LogRecord[] => r.filter((x) => keyOf(x) === robot.robotId);
    const first = await rig.connect(robot);
    await presence.until((r) => mine(r).length >= 1);
    const second = await rig.connect(robot); // same client id: aedes closes the first connection
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(first.connected).toBe(false);
    await presence.settle(300);
    expect(mine(presence.records)).toHaveLength(1);
    await second.endAsync();
    await presence.until((r) => mine(r).length >= 2);
    await presence.close();
  });
});

describe('commands downlink', () => {
  it("publishes a command from Kafka on the robot's cmd topic, and drops one past its deadline", async () => {
    const client = await rig.connect(robot, { clean: false });
    await client.subscribeAsync(mqttTopic('cmd', robot.siteId, robot.robotId), { qos: 1 });
    const received: Message[] = [];
    client.on('message', (_topic, payload) => received.push(decodeMessage(payload)));
    const now = Date.now();
    const expired: Message = {
      kind: 'command',
      commandId: 'c-late',
      robotId: robot.robotId,
      action: { type: 'stop' },
      issuedAt: now - 60_000,
      deadline: now - 30_000,
    };
    const live: Message = {
      kind: 'command',
      commandId: 'c-live',
      robotId: robot.robotId,
      action: { type: 'go_to_zone', zoneId: 'kitchen' },
      issuedAt: now,
      deadline: now + 60_000,
    };
    const producer = createKafkaLog({ brokers: rig.brokers, clientId: 'gateway-test-api' }).producer();
    await producer.send(
      [expired, live].map((m) => ({
        topic: KafkaTopics.commands,
        key: robot.robotId,
        value: encodeMessage(m),
      })),
    );
    await producer.close();
    const deadline = Date.now() + 15_000;
    while (received.length < 1 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received).toEqual([live]);
    const metrics = await rig.gateway.metrics.registry.getSingleMetricAsString(
      'fleet_gateway_commands_total',
    );
    expect(metrics).toMatch(/outcome="expired"[^\n]*\} 1/);
    await client.endAsync();
  });
});

describe('operations endpoint', () => {
  it('serves /healthz, /readyz and Prometheus /metrics', async () => {
    const base = `http://127.0.0.1:${rig.gateway.httpPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', kafka: 'ok' } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^fleet_gateway_samples_total\{gateway="[^"]+"\} \d+/m);
    expect(metrics).toMatch(/^# TYPE fleet_gateway_kafka_ack_seconds histogram/m);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
