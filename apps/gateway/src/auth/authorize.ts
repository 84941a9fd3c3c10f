/**
 * What an authenticated robot may do on the embedded broker. A robot publishes only on its own
 * robot-to-cloud topics and subscribes only to its own cloud-to-robot topics; nothing else, and no
 * wildcards. Pure functions: the broker adapter counts and logs what they refuse.
 */
import {
  CLOUD_TO_ROBOT_CHANNELS,
  ROBOT_TO_CLOUD_CHANNELS,
  mqttTopic,
  parseMqttTopic,
  type MqttChannel,
  type MqttTopicParts,
} from '@fleet/protocol';
import type { RobotIdentity } from './credentials.js';

export type Decision<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** The topics a robot may publish on, each with its channel. */
export function publishTopics(identity: RobotIdentity): ReadonlyMap<string, MqttChannel> {
  return new Map(ROBOT_TO_CLOUD_CHANNELS.map((c) => [mqttTopic(c, identity.siteId, identity.robotId), c]));
}

/** The topic filters a robot may subscribe to: exactly its own `cmd` and `time/resp`. */
export function subscribeFilters(identity: RobotIdentity): ReadonlySet<string> {
  return new Set(CLOUD_TO_ROBOT_CHANNELS.map((c) => mqttTopic(c, identity.siteId, identity.robotId)));
}

/**
 * The robot's own publish topics with their parts, for a per-connection lookup instead of parsing
 * every PUBLISH's topic: `authorizePublish` accepts each of these topics with exactly these parts.
 * A topic not in the map still goes through `authorizePublish`, which refuses it or gives the reason.
 */
export function publishAcl(identity: RobotIdentity): ReadonlyMap<string, MqttTopicParts> {
  const { robotId, siteId } = identity;
  return new Map(
    ROBOT_TO_CLOUD_CHANNELS.map((channel) => [
      mqttTopic(channel, siteId, robotId),
      { siteId, robotId, channel },
    ]),
  );
}

export function authorizePublish(identity: RobotIdentity, topic: string): Decision<MqttTopicParts> {
  let parts: MqttTopicParts;
  try {
    parts = parseMqttTopic(topic);
  } catch (error) {
    return {
      ok: false,
      message: `robot ${identity.robotId} may not publish on ${JSON.stringify(topic)}: ${(error as Error).message}`,
    };
  }
  if (parts.robotId !== identity.robotId || parts.siteId !== identity.siteId) {
    return {
      ok: false,
      message: `robot ${identity.robotId} (site ${identity.siteId}) may not publish on another robot's topic ${topic}`,
    };
  }
  if (!(ROBOT_TO_CLOUD_CHANNELS as readonly string[]).includes(parts.channel)) {
    return {
      ok: false,
      message: `robot ${identity.robotId} may not publish on cloud-to-robot channel ${parts.channel}`,
    };
  }
  return { ok: true, value: parts };
}

export function authorizeSubscribe(identity: RobotIdentity, filter: string): Decision<string> {
  if (subscribeFilters(identity).has(filter)) return { ok: true, value: filter };
  return {
    ok: false,
    message: `robot ${identity.robotId} may subscribe only to its own cmd and time/resp topics, not ${JSON.stringify(filter)}`,
  };
}
