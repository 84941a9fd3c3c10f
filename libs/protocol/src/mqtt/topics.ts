/**
 * MQTT topic scheme: `fleet/v1/{siteId}/{robotId}/{channel}`.
 *
 *   channel      direction        payload                                   retained
 *   telemetry    robot -> cloud   telemetry batch (or one telemetry sample) no
 *   events       robot -> cloud   robot_event                               no
 *   acks         robot -> cloud   command_ack                               no
 *   presence     robot -> cloud   presence (also the agent's last will)     yes
 *   time/req     robot -> cloud   time_sync_request                         no
 *   cmd          cloud -> robot   command                                   no
 *   time/resp    cloud -> robot   time_sync_response                        no
 *
 * Site before robot so that one wildcard level selects a site (`fleet/v1/site-3/+/telemetry`).
 * Ids follow ID_PATTERN, which excludes `/`, `+`, `#`, so a topic built here is never a wildcard and
 * always splits back into the same parts. `v1` is the topic scheme version, independent of payload
 * layout versions (those travel in each payload's envelope).
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { MAX_BATCH_BYTES, MAX_TOPIC_BYTES } from '../limits.js';
import type { MessageKind } from '../messages.js';
import { ID_PATTERN } from '../rules.js';

export const MQTT_TOPIC_ROOT = 'fleet';
export const MQTT_TOPIC_VERSION = 'v1';

export const ROBOT_TO_CLOUD_CHANNELS = ['telemetry', 'events', 'acks', 'presence', 'time/req'] as const;
export const CLOUD_TO_ROBOT_CHANNELS = ['cmd', 'time/resp'] as const;
export const MQTT_CHANNELS = [...ROBOT_TO_CLOUD_CHANNELS, ...CLOUD_TO_ROBOT_CHANNELS] as const;
export type MqttChannel = (typeof MQTT_CHANNELS)[number];

/** What a payload on each channel may decode to (`telemetry_batch` is the batch record). */
export const MQTT_CHANNEL_PAYLOADS: {
  readonly [C in MqttChannel]: readonly (MessageKind | 'telemetry_batch')[];
} = {
  telemetry: ['telemetry_batch', 'telemetry'],
  events: ['robot_event'],
  acks: ['command_ack'],
  presence: ['presence'],
  'time/req': ['time_sync_request'],
  cmd: ['command'],
  'time/resp': ['time_sync_response'],
};

/** Largest non-telemetry payload, binary or JSON; every such message fits well under it. */
export const MAX_MESSAGE_PAYLOAD_BYTES = 4096;

/**
 * Largest payload per channel. The gateway checks it before decoding; the broker's maximum packet
 * size must be at least the largest of these plus the topic and MQTT headers.
 */
export const MQTT_PAYLOAD_LIMITS: { readonly [C in MqttChannel]: number } = {
  telemetry: MAX_BATCH_BYTES,
  events: MAX_MESSAGE_PAYLOAD_BYTES,
  acks: MAX_MESSAGE_PAYLOAD_BYTES,
  presence: MAX_MESSAGE_PAYLOAD_BYTES,
  'time/req': MAX_MESSAGE_PAYLOAD_BYTES,
  cmd: MAX_MESSAGE_PAYLOAD_BYTES,
  'time/resp': MAX_MESSAGE_PAYLOAD_BYTES,
};

export interface MqttTopicParts {
  readonly siteId: string;
  readonly robotId: string;
  readonly channel: MqttChannel;
}

const CHANNELS: ReadonlySet<string> = new Set(MQTT_CHANNELS);

export function isMqttChannel(s: string): s is MqttChannel {
  return CHANNELS.has(s);
}

function badTopic(message: string, topic: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.BAD_TOPIC, message, { topic });
}

/**
 * The topic of `channel` for one robot. Throws BAD_TOPIC when an id breaks ID_PATTERN (it would
 * otherwise inject topic levels or wildcards).
 *
 * @example
 * mqttTopic('telemetry', 'site-3', 'r-17'); // 'fleet/v1/site-3/r-17/telemetry'
 */
export function mqttTopic(channel: MqttChannel, siteId: string, robotId: string): string {
  const topic = `${MQTT_TOPIC_ROOT}/${MQTT_TOPIC_VERSION}/${siteId}/${robotId}/${channel}`;
  if (!ID_PATTERN.test(siteId))
    throw badTopic(`site id ${JSON.stringify(siteId)} does not match ${ID_PATTERN.source}`, topic);
  if (!ID_PATTERN.test(robotId))
    throw badTopic(`robot id ${JSON.stringify(robotId)} does not match ${ID_PATTERN.source}`, topic);
  if (!isMqttChannel(channel)) throw badTopic(`unknown channel ${JSON.stringify(channel)}`, topic);
  return topic;
}

/**
 * Splits a topic of the scheme into its parts. Throws BAD_TOPIC naming the first level that is
 * wrong, or TOO_LARGE above MAX_TOPIC_BYTES (checked first, before any splitting).
 *
 * @example
 * parseMqttTopic('fleet/v1/site-3/r-17/time/req'); // { siteId: 'site-3', robotId: 'r-17', channel: 'time/req' }
 */
export function parseMqttTopic(topic: string): MqttTopicParts {
  if (topic.length > MAX_TOPIC_BYTES) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `topic of ${topic.length} characters exceeds the limit of ${MAX_TOPIC_BYTES}`,
      { length: topic.length, limit: MAX_TOPIC_BYTES },
    );
  }
  const levels = topic.split('/');
  const [root, version, siteId, robotId, ...rest] = levels;
  if (root !== MQTT_TOPIC_ROOT) {
    throw badTopic(`topic ${JSON.stringify(topic)} does not start with "${MQTT_TOPIC_ROOT}/"`, topic);
  }
  if (version !== MQTT_TOPIC_VERSION) {
    throw badTopic(
      `topic ${JSON.stringify(topic)} has scheme version ${JSON.stringify(version ?? '')}; supported: ${MQTT_TOPIC_VERSION}`,
      topic,
    );
  }
  if (siteId === undefined || robotId === undefined || rest.length === 0) {
    throw badTopic(
      `topic ${JSON.stringify(topic)} has ${levels.length} levels; expected fleet/v1/{siteId}/{robotId}/{channel}`,
      topic,
    );
  }
  if (!ID_PATTERN.test(siteId)) {
    throw badTopic(
      `topic ${JSON.stringify(topic)}: site id ${JSON.stringify(siteId)} does not match ${ID_PATTERN.source}`,
      topic,
    );
  }
  if (!ID_PATTERN.test(robotId)) {
    throw badTopic(
      `topic ${JSON.stringify(topic)}: robot id ${JSON.stringify(robotId)} does not match ${ID_PATTERN.source}`,
      topic,
    );
  }
  const channel = rest.join('/');
  if (!isMqttChannel(channel)) {
    throw badTopic(
      `topic ${JSON.stringify(topic)}: unknown channel ${JSON.stringify(channel)} (known: ${MQTT_CHANNELS.join(', ')})`,
      topic,
    );
  }
  return { siteId, robotId, channel };
}

export interface MqttFilterScope {
  /** One site, or every site (`+`) when absent. */
  readonly siteId?: string;
  /** One robot, or every robot (`+`) when absent. */
  readonly robotId?: string;
}

/**
 * A subscription filter for one channel. The gateway subscribes to every robot's robot-to-cloud
 * channels; an agent subscribes to its own cloud-to-robot channels.
 *
 * @example
 * mqttFilter('telemetry');                                      // 'fleet/v1/+/+/telemetry'
 * mqttFilter('cmd', { siteId: 'site-3', robotId: 'r-17' });    // 'fleet/v1/site-3/r-17/cmd'
 */
export function mqttFilter(channel: MqttChannel, scope: MqttFilterScope = {}): string {
  const site = scope.siteId ?? '+';
  const robot = scope.robotId ?? '+';
  const filter = `${MQTT_TOPIC_ROOT}/${MQTT_TOPIC_VERSION}/${site}/${robot}/${channel}`;
  if (site !== '+' && !ID_PATTERN.test(site))
    throw badTopic(`site id ${JSON.stringify(site)} does not match ${ID_PATTERN.source}`, filter);
  if (robot !== '+' && !ID_PATTERN.test(robot))
    throw badTopic(`robot id ${JSON.stringify(robot)} does not match ${ID_PATTERN.source}`, filter);
  if (!isMqttChannel(channel)) throw badTopic(`unknown channel ${JSON.stringify(channel)}`, filter);
  return filter;
}

/** The filters the gateway subscribes to: every robot's robot-to-cloud channels. */
export const GATEWAY_MQTT_FILTERS: readonly string[] = ROBOT_TO_CLOUD_CHANNELS.map((c) => mqttFilter(c));

/**
 * `$share/{group}/{filter}`: the broker hands each message to one member of the group, which is how
 * several gateway instances split the robots' traffic. MQTT 5.0 [MQTT-4.8.2-1]: the share name is
 * at least one character; [MQTT-4.8.2-2]: it contains no "/", "+" or "#" and is followed by "/" and
 * a topic filter.
 *
 * @example
 * sharedSubscription('gateways', mqttFilter('telemetry')); // '$share/gateways/fleet/v1/+/+/telemetry'
 */
export function sharedSubscription(group: string, filter: string): string {
  const topic = `$share/${group}/${filter}`;
  if (group.length === 0 || /[/+#]/.test(group)) {
    throw badTopic(
      `shared subscription group ${JSON.stringify(group)} must be non-empty and contain no "/", "+" or "#"`,
      topic,
    );
  }
  if (filter.length === 0) throw badTopic('shared subscription needs a topic filter', topic);
  return topic;
}

/**
 * Throws TOO_LARGE when an `n`-byte payload exceeds the limit of `channel`, naming both.
 *
 * @example
 * checkPayloadSize(parseMqttTopic(topic).channel, payload.length);
 */
export function checkPayloadSize(channel: MqttChannel, n: number): void {
  const limit = MQTT_PAYLOAD_LIMITS[channel];
  if (n > limit) {
    throw new ProtocolError(
      ProtocolErrorCode.TOO_LARGE,
      `payload of ${n} bytes on channel "${channel}" exceeds its limit of ${limit} bytes`,
      { channel, length: n, limit },
    );
  }
}
