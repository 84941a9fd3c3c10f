/**
 * One gateway instance: MQTT ingress (embedded aedes or an external broker), the bridge into Kafka,
 * presence, the time reference, the commands downlink and the operations endpoint, wired from a
 * validated configuration. `startGateway` resolves once every listener is up; `close` stops
 * accepting, finishes what Kafka has not yet acknowledged (or lets the robots resend it), and
 * releases everything.
 */
import { LogError, createKafkaLog, type Log } from '@fleet/log';
import { createPool, migrate } from '@fleet/db';
import { KAFKA_TOPIC_SPECS } from '@fleet/protocol';
import type { Pool } from 'pg';
import { CredentialStore } from './auth/credentials.js';
import { Bridge } from './bridge/bridge.js';
import { CommandDownlink } from './commands.js';
import type { GatewayConfig } from './config.js';
import { startOpsServer, type OpsServer } from '@fleet/ops';
import { startEmbeddedBroker } from './ingress/embedded.js';
import { startExternalClient } from './ingress/external.js';
import type { MqttSide } from './ingress/mqtt-side.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type GatewayMetrics } from './metrics.js';
import { PresenceTracker } from './presence.js';

export interface GatewayDeps {
  readonly logger?: Logger;
  /** Apply the database migrations at start (default true). */
  readonly migrate?: boolean;
}

export interface Gateway {
  readonly config: GatewayConfig;
  readonly mqtt: MqttSide;
  /** Port of the operations endpoint, when enabled. */
  readonly httpPort: number | undefined;
  readonly metrics: GatewayMetrics;
  readonly credentials: CredentialStore;
  readonly logger: Logger;
  close(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps = {}): Promise<Gateway> {
  const logger = deps.logger ?? createLogger(config);
  const metrics = createMetrics(config.gatewayId);
  const pool: Pool = createPool({ url: config.databaseUrl, max: 8, applicationName: config.gatewayId });
  const undo: (() => Promise<void>)[] = [() => pool.end()];
  const unwind = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
  };
  try {
    if (deps.migrate !== false) await migrate(pool);
    const log: Log = createKafkaLog({
      brokers: config.kafka.brokers,
      clientId: `${config.kafka.clientId}-${config.gatewayId}`,
      deliveryTimeoutMs: config.kafka.deliveryTimeoutMs,
      lingerMs: config.kafka.lingerMs,
    });
    if (config.kafka.createTopics) await ensureTopics(log, config, logger);
    const producer = log.producer();
    undo.push(() => producer.close());
    const credentials = new CredentialStore(pool, { cacheTtlMs: config.auth.cacheTtlMs });

    // The MQTT side is created after the bridge, which answers time/req through it.
    const late: { mqtt?: MqttSide } = {};
    const bridge = new Bridge({
      producer,
      metrics,
      logger,
      ...config.bridge,
      forwardPresence: config.mqtt.mode === 'external',
      respond: async (topic, payload) => {
        await late.mqtt?.publish(topic, payload, 0);
      },
    });
    undo.push(async () => bridge.close());
    const presence = new PresenceTracker(
      (p) => bridge.writePresence(p),
      (error, p) =>
        logger.error(
          { robotId: p.robotId, reason: p.reason, error: (error as Error).message },
          'presence not written',
        ),
      { graceMs: config.presence.graceMs },
    );
    undo.push(() => presence.flush());
    const side =
      config.mqtt.mode === 'embedded'
        ? await startEmbeddedBroker({ config, credentials, bridge, presence, metrics, logger })
        : await startExternalClient({ config, bridge, logger });
    late.mqtt = side;
    undo.push(() => side.close());

    if (config.commands.enabled) {
      const downlink = new CommandDownlink({
        gatewayId: config.gatewayId,
        log,
        pool,
        credentials,
        mqtt: side,
        metrics,
        logger,
        pollMs: config.commands.pollMs,
      });
      await downlink.start();
      undo.push(() => downlink.stop());
    }

    let ops: OpsServer | undefined;
    if (config.http !== null) {
      ops = await startOpsServer({
        host: config.http.host,
        port: config.http.port,
        registry: metrics.registry,
        checks: {
          postgres: async () => {
            await pool.query('SELECT 1');
          },
          kafka: async () => {
            const admin = log.admin();
            try {
              await admin.partitionCount(KAFKA_TOPIC_SPECS.telemetry.name);
            } finally {
              await admin.close();
            }
          },
        },
      });
      const server = ops;
      undo.push(() => server.close());
    }
    logger.info({ mode: config.mqtt.mode, mqtt: side.addresses, http: ops?.port }, 'gateway started');
    let closing: Promise<void> | undefined;
    return {
      config,
      mqtt: side,
      httpPort: ops?.port,
      metrics,
      credentials,
      logger,
      close() {
        closing ??= unwind().then(() => logger.info('gateway stopped'));
        return closing;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

/**
 * Creates the platform's topics that are missing. A topic that exists already is left as it is,
 * also when its partition count differs from `kafka.partitions` (an operator's choice; the producer
 * partitions by the actual count): that is logged, since co-partitioning needs every keyed topic to
 * have the same count.
 */
async function ensureTopics(log: Log, config: GatewayConfig, logger: Logger): Promise<void> {
  const admin = log.admin();
  try {
    for (const spec of Object.values(KAFKA_TOPIC_SPECS)) {
      try {
        await admin.createTopics(
          [
            {
              name: spec.name,
              partitions: config.kafka.partitions,
              compacted: spec.compacted,
              ...(config.kafka.replicationFactor > 1
                ? { config: { 'min.insync.replicas': String(Math.min(2, config.kafka.replicationFactor)) } }
                : {}),
            },
          ],
          { ifNotExists: true },
        );
      } catch (error) {
        if (!LogError.is(error, 'ALREADY_EXISTS')) throw error;
        const existing = await admin.partitionCount(spec.name);
        logger.warn(
          { topic: spec.name, partitions: existing, configured: config.kafka.partitions },
          'topic exists with another partition count; using it as it is',
        );
      }
    }
  } finally {
    await admin.close();
  }
}
