/**
 * Ingress from an external broker (Mosquitto, EMQX): the gateway joins a shared subscription
 * (`$share/<group>/fleet/v1/+/+/<channel>`), so each robot message goes to one member of the group
 * and several gateway instances split the load. The broker authenticates robots and enforces its
 * ACL; the gateway still checks that each payload belongs to the topic it came on.
 *
 * mqtt.js sends the PUBACK of an incoming QoS 1 message when `handleMessage` calls back, so the
 * bridge runs there: PUBACK after Kafka, as with the embedded broker. mqtt.js handles one incoming
 * message at a time per connection, so `connections` clients join the group to keep several in
 * flight.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { ROBOT_TO_CLOUD_CHANNELS, mqttFilter, mqttTopic, sharedSubscription } from '@fleet/protocol';
import type { Bridge } from '../bridge/bridge.js';
import type { GatewayConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { MqttSide } from './mqtt-side.js';

export interface ExternalOptions {
  readonly config: GatewayConfig;
  readonly bridge: Bridge;
  readonly logger: Logger;
  /** Members of the shared subscription this instance runs. Default 4. */
  readonly connections?: number;
}

export async function startExternalClient(options: ExternalOptions): Promise<MqttSide> {
  const { config, bridge, logger } = options;
  const external = config.mqtt.external;
  if (external === undefined) throw new Error('mqtt.external is not configured');
  const filters = ROBOT_TO_CLOUD_CHANNELS.map((c) => sharedSubscription(external.group, mqttFilter(c)));
  const count = options.connections ?? 4;
  const clients: MqttClient[] = [];
  for (let i = 0; i < count; i++) {
    const client = mqtt.connect(external.url, {
      clientId: `${external.clientId ?? config.gatewayId}-${i}`,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 1000,
      ...(external.username !== undefined ? { username: external.username } : {}),
      ...(external.password !== undefined ? { password: external.password } : {}),
      ...(external.caFile !== undefined ? { ca: readFileSync(external.caFile) } : {}),
      manualConnect: true,
    });
    client.handleMessage = (packet, callback) => {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      bridge.handle({ topic: packet.topic, payload, alive: () => client.connected }).then(
        () => callback(),
        (error: unknown) => {
          // No PUBACK: dropping the connection makes the broker redeliver to a group member.
          logger.warn(
            { topic: packet.topic, error: (error as Error).message },
            'message not acknowledged; reconnecting',
          );
          client.stream.destroy();
          callback(error as Error);
        },
      );
    };
    client.on('error', (error) => logger.warn({ error: error.message, client: i }, 'external broker error'));
    client.on('connect', (connack) => {
      logger.info(
        { url: external.url, client: i, sessionPresent: connack.sessionPresent },
        'connected to external broker',
      );
      if (!connack.sessionPresent) {
        client.subscribe(filters, { qos: 1 }, (error) => {
          if (error) logger.error({ error: error.message }, 'shared subscription failed');
        });
      }
    });
    clients.push(client);
  }
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve, reject) => {
          const onError = (error: Error): void => {
            client.end(true);
            reject(new Error(`cannot connect to external broker ${external.url}: ${error.message}`));
          };
          client.once('connect', () => {
            client.off('error', onError);
            resolve();
          });
          client.once('error', onError);
          client.connect();
        }),
    ),
  );
  const first = clients[0] as MqttClient;
  return {
    mode: 'external',
    addresses: {},
    publish(topic, payload, qos) {
      return new Promise((resolve, reject) => {
        first.publish(topic, payload, { qos }, (error) => (error ? reject(error) : resolve()));
      });
    },
    commandTopic: (robotId, siteId) => mqttTopic('cmd', siteId, robotId),
    async close() {
      await Promise.all(clients.map((client) => client.endAsync()));
    },
  };
}
