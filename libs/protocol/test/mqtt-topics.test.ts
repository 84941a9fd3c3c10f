import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkPayloadSize,
  CLOUD_TO_ROBOT_CHANNELS,
  encodeJson,
  encodeMessage,
  GATEWAY_MQTT_FILTERS,
  MAX_BATCH_BYTES,
  MAX_MESSAGE_PAYLOAD_BYTES,
  MAX_TOPIC_BYTES,
  MQTT_CHANNEL_PAYLOADS,
  MQTT_CHANNELS,
  MQTT_PAYLOAD_LIMITS,
  mqttFilter,
  mqttTopic,
  parseMqttTopic,
  ProtocolErrorCode,
  ROBOT_TO_CLOUD_CHANNELS,
  sharedSubscription,
  type Message,
} from '../src/index.js';
import { id, LONGEST_ID } from './arbitraries.js';
import { expectProtocolError } from './helpers.js';

/** MQTT topic-filter matching ([MQTT-4.7.1]): `+` is one level, `#` the rest. Enough for these tests. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

describe('MQTT topics', () => {
  it('parseMqttTopic inverts mqttTopic for every channel and id', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MQTT_CHANNELS), id, id, (channel, siteId, robotId) => {
        const topic = mqttTopic(channel, siteId, robotId);
        expect(topic).toBe(`fleet/v1/${siteId}/${robotId}/${channel}`);
        expect(parseMqttTopic(topic)).toEqual({ siteId, robotId, channel });
      }),
    );
  });

  it('keeps the longest topic of the scheme under MAX_TOPIC_BYTES', () => {
    const longest = mqttTopic('time/resp', LONGEST_ID, LONGEST_ID);
    expect(longest.length).toBe(148);
    expect(longest.length).toBeLessThanOrEqual(MAX_TOPIC_BYTES);
  });

  it('rejects topics outside the scheme with BAD_TOPIC naming what is wrong', () => {
    const cases: [string, string[]][] = [
      ['robots/v1/s/r/telemetry', ['"fleet/"']],
      ['fleet/v2/s/r/telemetry', ['scheme version "v2"', 'supported: v1']],
      ['fleet/v1/s/r', ['4 levels']],
      ['fleet/v1/s', ['3 levels']],
      ['fleet/v1/s+/r/telemetry', ['site id "s+"']],
      ['fleet/v1/s/#/telemetry', ['robot id "#"']],
      ['fleet/v1//r/telemetry', ['site id ""']],
      ['fleet/v1/s/r/teleport', ['unknown channel "teleport"']],
      ['fleet/v1/s/r/telemetry/extra', ['unknown channel "telemetry/extra"']],
      ['fleet/v1/s/r/time', ['unknown channel "time"']],
      ['fleet/v1/s/r/time/', ['unknown channel "time/"']],
    ];
    for (const [topic, fragments] of cases)
      expectProtocolError(() => parseMqttTopic(topic), ProtocolErrorCode.BAD_TOPIC, ...fragments);
  });

  it('rejects ids that would inject levels or wildcards when building', () => {
    expectProtocolError(
      () => mqttTopic('cmd', 'site/a', 'r'),
      ProtocolErrorCode.BAD_TOPIC,
      'site id "site/a"',
    );
    expectProtocolError(() => mqttTopic('cmd', 's', 'r+'), ProtocolErrorCode.BAD_TOPIC, 'robot id "r+"');
    expectProtocolError(
      () => mqttFilter('cmd', { robotId: '#' }),
      ProtocolErrorCode.BAD_TOPIC,
      'robot id "#"',
    );
  });

  it('rejects an overlong topic as TOO_LARGE before parsing', () => {
    expectProtocolError(
      () => parseMqttTopic(`fleet/v1/${'s'.repeat(300)}/r/cmd`),
      ProtocolErrorCode.TOO_LARGE,
      '315',
      String(MAX_TOPIC_BYTES),
    );
  });

  it('random strings never parse into something mqttTopic would not build', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .array(fc.constantFrom('fleet', 'v1', 's', 'r', 'cmd', 'time', 'req', '+', '#', ''), {
              maxLength: 7,
            })
            .map((l) => l.join('/')),
        ),
        (topic) => {
          try {
            const parts = parseMqttTopic(topic);
            expect(mqttTopic(parts.channel, parts.siteId, parts.robotId)).toBe(topic);
          } catch (e) {
            expect((e as { code?: string }).code).toMatch(/^PROTOCOL_(BAD_TOPIC|TOO_LARGE)$/);
          }
        },
      ),
    );
  });
});

describe('MQTT subscriptions', () => {
  it('builds wildcard and scoped filters', () => {
    expect(mqttFilter('telemetry')).toBe('fleet/v1/+/+/telemetry');
    expect(mqttFilter('time/req', { siteId: 'site-3' })).toBe('fleet/v1/site-3/+/time/req');
    expect(mqttFilter('cmd', { siteId: 'site-3', robotId: 'r-17' })).toBe('fleet/v1/site-3/r-17/cmd');
    expect(GATEWAY_MQTT_FILTERS).toEqual([
      'fleet/v1/+/+/telemetry',
      'fleet/v1/+/+/events',
      'fleet/v1/+/+/acks',
      'fleet/v1/+/+/presence',
      'fleet/v1/+/+/time/req',
    ]);
  });

  it('the gateway filters match every robot-to-cloud topic and no cloud-to-robot topic', () => {
    fc.assert(
      fc.property(id, id, (siteId, robotId) => {
        for (const c of ROBOT_TO_CLOUD_CHANNELS) {
          expect(GATEWAY_MQTT_FILTERS.filter((f) => matches(f, mqttTopic(c, siteId, robotId)))).toHaveLength(
            1,
          );
        }
        for (const c of CLOUD_TO_ROBOT_CHANNELS) {
          expect(GATEWAY_MQTT_FILTERS.some((f) => matches(f, mqttTopic(c, siteId, robotId)))).toBe(false);
          expect(matches(mqttFilter(c, { siteId, robotId }), mqttTopic(c, siteId, robotId))).toBe(true);
        }
      }),
    );
  });

  it('builds shared subscriptions and rejects bad share names ([MQTT-4.8.2-1], [MQTT-4.8.2-2])', () => {
    expect(sharedSubscription('gateways', mqttFilter('telemetry'))).toBe(
      '$share/gateways/fleet/v1/+/+/telemetry',
    );
    expectProtocolError(
      () => sharedSubscription('', mqttFilter('telemetry')),
      ProtocolErrorCode.BAD_TOPIC,
      'group ""',
    );
    for (const bad of ['a/b', 'a+', '#'])
      expectProtocolError(
        () => sharedSubscription(bad, 'x'),
        ProtocolErrorCode.BAD_TOPIC,
        JSON.stringify(bad),
      );
    expectProtocolError(() => sharedSubscription('g', ''), ProtocolErrorCode.BAD_TOPIC, 'topic filter');
  });
});

describe('MQTT payload limits', () => {
  it('telemetry takes a full batch; the other channels a few KiB', () => {
    expect(MQTT_PAYLOAD_LIMITS.telemetry).toBe(MAX_BATCH_BYTES);
    for (const c of MQTT_CHANNELS)
      if (c !== 'telemetry') expect(MQTT_PAYLOAD_LIMITS[c]).toBe(MAX_MESSAGE_PAYLOAD_BYTES);
    expect(() => checkPayloadSize('telemetry', MAX_BATCH_BYTES)).not.toThrow();
    expectProtocolError(
      () => checkPayloadSize('events', 4097),
      ProtocolErrorCode.TOO_LARGE,
      '4097',
      '4096',
      '"events"',
    );
  });

  it('the largest message of each non-telemetry channel fits its limit in binary and in JSON', () => {
    const worst = '\u0001'.repeat(200);
    const largest: Message[] = [
      {
        kind: 'robot_event',
        robotId: LONGEST_ID,
        bootId: 0xffffffff,
        seq: 0xffffffff,
        eventTime: 2 ** 47,
        event: { type: 'fault_raised', code: 0xffff, message: worst.slice(0, 120) },
      },
      {
        kind: 'robot_event',
        robotId: LONGEST_ID,
        bootId: 0xffffffff,
        seq: 0xffffffff,
        eventTime: 2 ** 47,
        event: { type: 'boot', firmwareVersion: worst.slice(0, 32), resetReason: 'brownout' },
      },
      {
        kind: 'command_ack',
        commandId: LONGEST_ID,
        robotId: LONGEST_ID,
        outcome: 'completed',
        source: 'firmware',
        robotTime: 2 ** 47,
        detail: worst,
      },
      {
        kind: 'command',
        commandId: LONGEST_ID,
        robotId: LONGEST_ID,
        action: { type: 'go_to_zone', zoneId: LONGEST_ID },
        issuedAt: 2 ** 47,
        deadline: 2 ** 47,
      },
      { kind: 'presence', robotId: LONGEST_ID, online: false, reason: 'disconnected', at: 2 ** 47 },
      { kind: 'time_sync_request', robotId: LONGEST_ID, requestId: 0xffffffff, agentSendTime: 2 ** 47 },
      {
        kind: 'time_sync_response',
        robotId: LONGEST_ID,
        requestId: 0xffffffff,
        agentSendTime: 2 ** 47,
        gatewayReceiveTime: 2 ** 47,
        gatewaySendTime: 2 ** 47,
      },
    ];
    for (const m of largest) {
      const channel = MQTT_CHANNELS.find(
        (c) => c !== 'telemetry' && MQTT_CHANNEL_PAYLOADS[c].includes(m.kind),
      );
      expect(channel, m.kind).toBeDefined();
      if (channel === undefined) continue;
      checkPayloadSize(channel, encodeMessage(m).length);
      checkPayloadSize(channel, encodeJson(m).length);
    }
  });
});
