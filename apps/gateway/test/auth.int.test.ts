/**
 * Authentication and authorisation on the embedded broker. Real parts: the gateway (aedes) on a
 * loopback port, the run's Kafka broker and PostgreSQL (credentials table), mqtt.js clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterHeader, KafkaTopics, encodeTelemetryBatch, mqttTopic } from '@fleet/protocol';
import { KafkaTail } from './support/kafka-tail.js';
import { openGatewayRig, type GatewayRig, type Robot } from './support/gateway-rig.js';
import { samples } from './support/samples.js';

let rig: GatewayRig;
let alice: Robot;
let bob: Robot;

beforeAll(async () => {
  rig = await openGatewayRig('auth');
  alice = await rig.robot('alice');
  bob = await rig.robot('bob');
});
afterAll(() => rig?.close());

async function refusal(
  robot: Robot | undefined,
  options: Parameters<GatewayRig['connect']>[1] = {},
): Promise<number | undefined> {
  try {
    await rig.connect(robot, options);
  } catch (error) {
    return (error as { code?: number }).code;
  }
  throw new Error('the connection was accepted');
}

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${rig.gateway.httpPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

describe('connections', () => {
  it('refuses anonymous clients, wrong secrets, unknown and revoked robots, and foreign client ids; counts each', async () => {
    expect(await refusal(undefined)).toBe(5);
    expect(await refusal({ ...alice, secret: 'x'.repeat(43) })).toBe(4);
    expect(await refusal({ robotId: 'nobody-here', siteId: 'site-1', secret: alice.secret })).toBe(4);
    expect(await refusal(alice, { clientId: bob.robotId })).toBe(2);
    const carol = await rig.robot('carol');
    await rig.gateway.credentials.revoke(carol.robotId);
    expect(await refusal(carol)).toBe(5);

    const counted = await metric('fleet_gateway_auth_refusals_total');
    for (const reason of ['anonymous', 'bad_secret', 'unknown_robot', 'bad_client_id', 'revoked']) {
      expect(counted).toMatch(new RegExp(`reason="${reason}"[^\\n]*\\} 1$`, 'm'));
    }
    expect(rig.logs.filter((l) => l['msg'] === 'connect refused').map((l) => l['reason'])).toEqual(
      expect.arrayContaining(['anonymous', 'bad_secret', 'unknown_robot', 'bad_client_id', 'revoked']),
    );
  });

  it('accepts a provisioned robot under its id or fleet-agent-<id>', async () => {
    const a = await rig.connect(alice);
    const b = await rig.connect(alice, { clientId: `fleet-agent-${alice.robotId}` });
    expect(a.connected && b.connected).toBe(true);
    await Promise.all([a.endAsync(), b.endAsync()]);
  });
});

describe('topics', () => {
  it("grants a robot's own cmd and time/resp and refuses every other subscription", async () => {
    const client = await rig.connect(alice);
    const own = [
      mqttTopic('cmd', alice.siteId, alice.robotId),
      mqttTopic('time/resp', alice.siteId, alice.robotId),
    ];
    const foreign = [
      mqttTopic('cmd', bob.siteId, bob.robotId),
      'fleet/#',
      'fleet/v1/site-1/+/cmd',
      mqttTopic('telemetry', alice.siteId, alice.robotId),
    ];
    const granted = await client.subscribeAsync(own, { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1, 1]);
    for (const filter of foreign) {
      // mqtt.js turns a SUBACK return code 0x80 (failure) into a rejection.
      await expect(client.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }
    expect(await metric('fleet_gateway_acl_refusals_total{operation="subscribe"')).toMatch(/ 4$/);
    await client.endAsync();
  });

  it("dead-letters a publish on another robot's topic (UNAUTHORISED) and never forwards it", async () => {
    const telemetry = await KafkaTail.open(rig.brokers, KafkaTopics.telemetry);
    const dlq = await KafkaTail.open(rig.brokers, KafkaTopics.deadLetter);
    try {
      const client = await rig.connect(alice);
      const forged = Buffer.from(encodeTelemetryBatch(samples(bob.robotId, bob.siteId, 1, 0, 5)));
      await client.publishAsync(mqttTopic('telemetry', bob.siteId, bob.robotId), forged, { qos: 1 });
      // The connection stays usable: its own telemetry still flows.
      const own = Buffer.from(encodeTelemetryBatch(samples(alice.robotId, alice.siteId, 1, 0, 5)));
      await client.publishAsync(mqttTopic('telemetry', alice.siteId, alice.robotId), own, { qos: 1 });

      const [letter] = await dlq.until((r) => r.length >= 1);
      expect(Buffer.from(letter?.value ?? [])).toEqual(forged);
      expect(Buffer.from(letter?.headers[DeadLetterHeader.reasonCode] ?? []).toString()).toBe(
        'DLQ_UNAUTHORISED',
      );
      expect(Buffer.from(letter?.headers[DeadLetterHeader.sourceTopic] ?? []).toString()).toBe(
        mqttTopic('telemetry', bob.siteId, bob.robotId),
      );
      const seen = await telemetry.until((r) => r.length >= 1);
      await telemetry.settle(300);
      expect(seen.map((r) => Buffer.from(r.key ?? []).toString())).toEqual([alice.robotId]);
      expect(await metric('fleet_gateway_acl_refusals_total{operation="publish"')).toMatch(/ 1$/);
      await client.endAsync();
    } finally {
      await Promise.all([telemetry.close(), dlq.close()]);
    }
  });
});
