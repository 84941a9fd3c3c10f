/**
 * The default ingress: aedes embedded in the gateway, listening on TCP, TLS and (optionally)
 * WebSocket. aedes writes a QoS 1 PUBACK only after `authorizePublish` calls back, so running the
 * bridge inside `authorizePublish` gives the PUBACK-after-Kafka guarantee. Backpressure needs one
 * more step (see `readingGate`): while a connection has a PUBLISH waiting for Kafka, its socket is
 * not read, so TCP flow control holds the robot back instead of the gateway buffering its traffic.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { mqttTopic } from '@fleet/protocol';
import type { CredentialStore, RobotIdentity, AuthRefusal } from '../auth/credentials.js';
import { authorizeSubscribe } from '../auth/authorize.js';
import type { Bridge } from '../bridge/bridge.js';
import type { GatewayConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import type { PresenceTracker } from '../presence.js';
import type { MqttSide } from './mqtt-side.js';

/** CONNACK return codes of MQTT 3.1.1 (aedes' AuthErrorCode is a const enum, not importable). */
const RETURN_CODE: Readonly<Record<AuthRefusal, number>> = {
  anonymous: 5, // not authorised
  unknown_robot: 4, // bad user name or password
  bad_secret: 4,
  revoked: 5,
  bad_client_id: 2, // identifier rejected
  unavailable: 3, // server unavailable
};

export interface EmbeddedOptions {
  readonly config: GatewayConfig;
  readonly credentials: CredentialStore;
  readonly bridge: Bridge;
  readonly presence: PresenceTracker;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
}

export interface ListenerAddresses {
  tcp?: number;
  tls?: number;
  ws?: number;
}

/**
 * Backpressure. aedes reads a socket's next chunk once every packet of the last one is handled, but
 * it also counts each 'readable' event as a handled packet (`nextBatch` in aedes lib/client.js), so
 * bytes that arrive while PUBLISHes wait for Kafka are read and parsed anyway: a Kafka outage would
 * pile every robot's traffic up in memory. So while a connection has a PUBLISH waiting, its
 * 'readable' listeners are detached; Node stops reading the socket once its buffer is full and TCP
 * flow control holds the robot back. (A PINGREQ is not read either: a long outage ends in a
 * keepalive timeout, and the robot reconnects and resends.)
 */
type Listener = (...args: unknown[]) => void;

/** One authenticated connection: its identity and its PUBLISHes on their way to Kafka. */
interface Connection {
  readonly identity: RobotIdentity;
  /** False once the connection is gone (made once, not per PUBLISH). */
  readonly alive: () => boolean;
  /** PUBLISHes handed to the bridge and not yet answered; while > 0 the socket is not read. */
  pending: number;
  /** The 'readable' listeners detached while `pending` > 0. */
  held: Listener[] | undefined;
  /**
   * Settles (true: acknowledged) once the connection's last PUBLISH is answered; the next one starts
   * only then. Undefined when nothing is pending, so an idle connection's PUBLISH starts at once.
   */
  tail: Promise<boolean> | undefined;
  /** A PUBLISH was not acknowledged: the connection is closing, write nothing more of it. */
  failed: boolean;
}

function hold(client: Client, connection: Connection): void {
  if (connection.pending++ > 0) return;
  connection.held = client.conn.listeners('readable') as Listener[];
  client.conn.removeAllListeners('readable');
}

function release(client: Client, connection: Connection): void {
  if (--connection.pending > 0) return;
  const listeners = connection.held ?? [];
  connection.held = undefined;
  for (const listener of listeners) client.conn.on('readable', listener);
}

export async function startEmbeddedBroker(options: EmbeddedOptions): Promise<MqttSide> {
  const { config, credentials, bridge, presence, metrics, logger } = options;
  /**
   * Per authenticated client. The publishes of one connection go to the bridge one after another:
   * aedes hands over every packet of a socket chunk at once, and concurrent retries after a Kafka
   * outage could otherwise write a robot's batches out of order. Connections still run in parallel,
   * and the producer coalesces their records into shared requests.
   */
  const connections = new WeakMap<Client, Connection>();

  const broker = await Aedes.createBroker({
    id: config.gatewayId,
    connectTimeout: config.mqtt.connectTimeoutMs,
    maxClientsIdLength: 128,
    // Session state is per instance and in memory; robots resend from their spools after a restart.
    authenticate(client, username, password, done) {
      credentials.authenticate(client.id, username, password).then(
        (result) => {
          if (result.ok) {
            connections.set(client, {
              identity: result.identity,
              alive: () => !client.closed,
              pending: 0,
              held: undefined,
              tail: undefined,
              failed: false,
            });
            done(null, true);
            return;
          }
          metrics.authRefusals.inc({ reason: result.reason });
          logger.warn(
            { clientId: client.id, username, reason: result.reason, detail: result.message },
            'connect refused',
          );
          const error = new Error(result.message) as AuthenticateError;
          error.returnCode = RETURN_CODE[result.reason];
          done(error, false);
        },
        (error: unknown) => {
          const e = new Error(`authentication failed: ${(error as Error).message}`) as AuthenticateError;
          e.returnCode = 3;
          done(e, false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      if (client === null) return done(null);
      // A last will is published by the broker itself as the connection dies; presence comes from
      // the disconnect, so the will only goes to MQTT subscribers.
      if (packet === (client as Client & { will?: unknown }).will) return done(null);
      const connection = connections.get(client);
      if (connection === undefined) return done(new Error('publish before authentication'));
      // Retained messages are kept for presence only: a retained telemetry batch per robot would
      // cost up to 64 KiB each, for nothing.
      if (packet.retain && !packet.topic.endsWith('/presence')) packet.retain = false;
      const publish = {
        topic: packet.topic,
        payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
        identity: connection.identity,
        alive: connection.alive,
      };
      hold(client, connection);
      const previous = connection.tail;
      const handled =
        previous === undefined
          ? connection.failed
            ? Promise.reject(new Error('an earlier publish of this connection was not acknowledged'))
            : bridge.handle(publish)
          : previous.then((previousOk) =>
              previousOk
                ? bridge.handle(publish)
                : // The previous publish failed, so this connection is closing: do not write this one.
                  Promise.reject(new Error('an earlier publish of this connection was not acknowledged')),
            );
      // PUBACK (done) only once Kafka has the records; the next PUBLISH of this connection starts
      // after this one is answered.
      const settled: Promise<boolean> = handled.then(
        () => {
          if (connection.tail === settled) connection.tail = undefined;
          release(client, connection);
          done(null);
          return true;
        },
        (error: unknown) => {
          connection.failed = true;
          if (connection.tail === settled) connection.tail = undefined;
          release(client, connection);
          logger.warn(
            { robotId: connection.identity.robotId, topic: packet.topic, error: (error as Error).message },
            'publish not acknowledged; closing the connection',
          );
          done(error as Error);
          return false;
        },
      );
      connection.tail = settled;
    },
    authorizeSubscribe(client, subscription, done) {
      const identity = connections.get(client)?.identity;
      const decision = identity === undefined ? undefined : authorizeSubscribe(identity, subscription.topic);
      if (decision?.ok) return done(null, subscription);
      metrics.aclRefusals.inc({ operation: 'subscribe' });
      logger.warn(
        { clientId: client.id, topic: subscription.topic, reason: decision?.message ?? 'not authenticated' },
        'subscribe refused',
      );
      done(null, null);
    },
  });

  broker.on('client', (client) => {
    const identity = connections.get(client)?.identity;
    if (identity === undefined) return;
    metrics.connects.inc();
    metrics.connections.inc();
    presence.connected(identity);
  });
  broker.on('clientDisconnect', (client) => {
    const identity = connections.get(client)?.identity;
    if (identity === undefined) return;
    connections.delete(client);
    metrics.connections.dec();
    // aedes sets _disconnected only when the client sent DISCONNECT (then no will is published).
    presence.disconnected(identity, (client as Client & { _disconnected?: boolean })._disconnected === true);
  });
  broker.on('clientError', (client, error) => {
    logger.debug({ clientId: client.id, error: error.message }, 'client error');
  });
  broker.on('connectionError', (client, error) => {
    logger.debug({ clientId: client.id, error: error.message }, 'connection error');
  });

  const servers: (NetServer | HttpServer)[] = [];
  const addresses: ListenerAddresses = {};
  const handle = broker.handle.bind(broker);
  const listen = async (server: NetServer | HttpServer, host: string, port: number): Promise<number> => {
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  };
  const { tcp, tls, ws } = config.mqtt;
  if (tcp) addresses.tcp = await listen(createNetServer(handle), tcp.host, tcp.port);
  if (tls) {
    const server = createTlsServer(
      {
        cert: readFileSync(tls.certFile),
        key: readFileSync(tls.keyFile),
        ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
      },
      handle,
    );
    addresses.tls = await listen(server, tls.host, tls.port);
  }
  if (ws) {
    const http = createHttpServer((_, res) =>
      res.writeHead(426).end('MQTT over WebSocket: connect to /mqtt\n'),
    );
    const wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: config.mqtt.maxPacketBytes });
    wss.on('connection', (socket, request) => handle(createWebSocketStream(socket), request));
    addresses.ws = await listen(http, ws.host, ws.port);
  }
  logger.info({ addresses }, 'embedded MQTT broker listening');

  return {
    mode: 'embedded',
    addresses,
    publish(topic, payload, qos) {
      return new Promise((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (error) =>
          error ? reject(error) : resolve(),
        );
      });
    },
    commandTopic: (robotId, siteId) => mqttTopic('cmd', siteId, robotId),
    async close() {
      // Stop accepting, close every client (aedes ends their sockets), then wait for the servers.
      const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const server of servers) if ('closeAllConnections' in server) server.closeAllConnections();
      await Promise.all(closed);
    },
  };
}
