/**
 * A real gateway for integration tests: the run's Kafka broker and PostgreSQL server (from the
 * integration global setup), a fresh database per rig, the embedded aedes broker on an ephemeral
 * loopback port, and helpers to provision robots and connect real mqtt.js clients to it.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { inject } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@fleet/testing';
import type {} from '@fleet/testing';
import { parseConfig, type GatewayConfigInput } from '../../src/config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';

export interface Robot {
  readonly robotId: string;
  readonly siteId: string;
  readonly secret: string;
}

export interface GatewayRig {
  readonly gateway: Gateway;
  readonly brokers: readonly string[];
  readonly url: string;
  /** Every log line the gateway wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  /** A provisioned robot with a unique id (`<name>-<random>`). */
  robot(name?: string, siteId?: string): Promise<Robot>;
  /** A connected client of `robot` (rejects with the CONNACK error when refused). */
  connect(robot: Robot | undefined, options?: IClientOptions): Promise<MqttClient>;
  close(): Promise<void>;
}

export async function openGatewayRig(
  name: string,
  overrides: Partial<GatewayConfigInput> = {},
): Promise<GatewayRig> {
  const brokers = inject('kafkaBrokers').split(',');
  const db: TestDatabase = await createTestDatabase(inject('databaseUrl'), `gw_${name}`);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = parseConfig({
    gatewayId: `gw-${name}-${randomBytes(3).toString('hex')}`,
    kafka: { brokers, partitions: 4 },
    databaseUrl: db.url,
    mqtt: { tcp: { host: '127.0.0.1', port: 0 } },
    http: { host: '127.0.0.1', port: 0 },
    logLevel: 'info',
    ...overrides,
  });
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, { logger: pino({ level: config.logLevel }, sink) });
  } catch (error) {
    await db.drop();
    throw error;
  }
  const url = `mqtt://127.0.0.1:${gateway.mqtt.addresses.tcp}`;
  const clients: MqttClient[] = [];
  return {
    gateway,
    brokers,
    url,
    logs,
    async robot(prefix = 'r', siteId = 'site-1') {
      const robotId = `${prefix}-${randomBytes(4).toString('hex')}`;
      const secret = await gateway.credentials.provision(robotId, siteId);
      return { robotId, siteId, secret };
    },
    async connect(robot, options = {}) {
      const client = mqtt.connect(url, {
        clientId: robot?.robotId ?? `anon-${randomBytes(3).toString('hex')}`,
        ...(robot ? { username: robot.robotId, password: robot.secret } : {}),
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...options,
      });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', (error) => reject(error));
        client.once('close', () => reject(new Error('connection closed before CONNACK')));
      });
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await gateway.close();
      await db.drop();
    },
  };
}
