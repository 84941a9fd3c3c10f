/**
 * MQTT over WebSocket on the embedded broker (the optional listener): a real mqtt.js client over
 * ws:// to the gateway, authenticated like any robot, its telemetry landing in the run's Kafka.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KafkaTopics, encodeTelemetryBatch, mqttTopic } from '@fleet/protocol';
import { KafkaTail } from './support/kafka-tail.js';
import { openGatewayRig, type GatewayRig } from './support/gateway-rig.js';
import { samples } from './support/samples.js';

let rig: GatewayRig;
beforeAll(async () => {
  rig = await openGatewayRig('ws', {
    mqtt: { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 } },
  });
});
afterAll(() => rig?.close());

it('accepts robots over ws://…/mqtt and bridges their telemetry; refuses wrong secrets there too', async () => {
  const robot = await rig.robot('ws');
  const url = `ws://127.0.0.1:${rig.gateway.mqtt.addresses.ws}/mqtt`;
  const telemetry = await KafkaTail.open(rig.brokers, KafkaTopics.telemetry);
  const client = await mqtt.connectAsync(url, {
    clientId: robot.robotId,
    username: robot.robotId,
    password: robot.secret,
    reconnectPeriod: 0,
  });
  const batch = Buffer.from(encodeTelemetryBatch(samples(robot.robotId, robot.siteId, 3, 0, 20)));
  await client.publishAsync(mqttTopic('telemetry', robot.siteId, robot.robotId), batch, { qos: 1 });
  const [record] = await telemetry.until((r) => r.some((x) => Buffer.from(x.value ?? []).equals(batch)));
  expect(record).toBeDefined();
  await client.endAsync();
  await telemetry.close();

  await expect(
    mqtt.connectAsync(url, {
      clientId: robot.robotId,
      username: robot.robotId,
      password: 'wrong'.repeat(10),
      reconnectPeriod: 0,
    }),
  ).rejects.toThrow(/Bad username or password/i);
});
