/**
 * One MQTT connection behind a small interface, made with mqtt.js (v5 API; MQTT 3.1.1 or 5.0).
 *
 * mqtt.js's own reconnect is switched off (`reconnectPeriod: 0`): a connection is used until it
 * closes, then `MqttSession` makes a new one when its backoff says so, on the injected clock. A new
 * client per connection also means nothing of the old connection's in-flight state survives: what
 * was not PUBACKed is still in the spool, and the publisher sends it again in order.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { AgentError, AgentErrorCode, errorMessage } from '../errors.js';

export interface PublishOptions {
  readonly qos: 0 | 1;
  readonly retain?: boolean;
}

export interface MqttConnectOptions {
  readonly clientId: string;
  readonly username: string;
  readonly password: string | undefined;
  readonly protocolVersion: 4 | 5;
  readonly keepaliveSeconds: number;
  readonly connectTimeoutMs: number;
  readonly cleanSession: boolean;
  /** MQTT 5 only. */
  readonly sessionExpirySeconds: number;
  /** Left with the broker, published by it if the connection dies without a DISCONNECT. */
  readonly will?: {
    readonly topic: string;
    readonly payload: Uint8Array;
    readonly qos: 0 | 1;
    readonly retain: boolean;
  };
  readonly tls?: {
    readonly ca?: Uint8Array;
    readonly cert?: Uint8Array;
    readonly key?: Uint8Array;
    readonly rejectUnauthorized: boolean;
  };
}

export interface MqttConnectionHandlers {
  /** CONNACK accepted. */
  onConnect(): void;
  onMessage(topic: string, payload: Uint8Array): void;
  /** A failure; MQTT_AUTH when the broker refused the credentials. The connection then closes. */
  onError(error: AgentError): void;
  /** The connection is gone (never opened, refused, dropped or ended); called once. */
  onClose(): void;
}

export interface MqttConnection {
  /** Resolves on PUBACK (QoS 1) or once written (QoS 0); rejects when the broker refuses it or the connection closes first. */
  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void>;
  /** Resolves with the granted QoS per filter (128 = refused). */
  subscribe(filters: readonly string[], qos: 0 | 1): Promise<number[]>;
  /** Graceful: DISCONNECT (so the broker does not send the last will); forced: drop the socket. */
  end(force: boolean): Promise<void>;
}

export type ConnectMqtt = (
  url: string,
  options: MqttConnectOptions,
  handlers: MqttConnectionHandlers,
) => MqttConnection;

/** CONNACK return codes 4, 5 (3.1.1) and reason codes 0x86, 0x87 (5.0): the credentials were refused. */
const AUTH_CODES: ReadonlySet<number> = new Set([4, 5, 0x86, 0x87]);

/** Node's (OpenSSL's) codes for a server certificate that does not verify against the CA given. */
const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export const connectMqtt: ConnectMqtt = (url, options, handlers) => {
  const clientOptions: IClientOptions = {
    clientId: options.clientId,
    username: options.username,
    protocolVersion: options.protocolVersion,
    keepalive: options.keepaliveSeconds,
    connectTimeout: options.connectTimeoutMs,
    clean: options.cleanSession,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    // mqtt-packet would otherwise pre-build a Buffer for every packet id 0..65535 on first publish:
    // 65,536 objects, ~6 MB of heap the agent never gets back (bench:agent, docs/decisions/0007-agent-memory.md).
    writeCache: false,
  };
  if (options.will !== undefined) {
    const { topic, payload, qos, retain } = options.will;
    clientOptions.will = { topic, payload: Buffer.from(payload), qos, retain };
  }
  if (options.password !== undefined) clientOptions.password = options.password;
  if (options.protocolVersion === 5) {
    clientOptions.properties = {
      sessionExpiryInterval: options.cleanSession ? 0 : options.sessionExpirySeconds,
    };
  }
  const tls = options.tls;
  if (tls !== undefined) {
    clientOptions.rejectUnauthorized = tls.rejectUnauthorized;
    if (tls.ca !== undefined) clientOptions.ca = Buffer.from(tls.ca);
    if (tls.cert !== undefined) clientOptions.cert = Buffer.from(tls.cert);
    if (tls.key !== undefined) clientOptions.key = Buffer.from(tls.key);
  }
  const client: MqttClient = connect(url, clientOptions);
  let accepted = false;
  let closed = false;
  client.on('connect', () => {
    accepted = true;
    handlers.onConnect();
  });
  client.on('message', (topic, payload) => handlers.onMessage(topic, payload));
  client.on('error', (error) => {
    const code = (error as { code?: unknown }).code;
    const auth = !accepted && typeof code === 'number' && AUTH_CODES.has(code);
    const untrusted = typeof code === 'string' && TLS_VERIFY_CODES.has(code);
    handlers.onError(
      new AgentError(
        auth ? AgentErrorCode.MQTT_AUTH : AgentErrorCode.MQTT_CONNECTION,
        auth
          ? `broker ${url} refused the credentials of ${options.username}: ${error.message}`
          : untrusted
            ? `MQTT ${url}: TLS: the broker's certificate is not trusted (${code}: ${error.message}); ` +
              "mqtt.tls.caFile must name the CA that signed it, and the URL's host must be one the certificate names"
            : `MQTT ${url}: ${error.message}`,
        { url, code, ...(untrusted ? { tls: 'untrusted' } : {}) },
        { cause: error },
      ),
    );
  });
  client.on('close', () => {
    if (closed) return;
    closed = true;
    handlers.onClose();
  });
  return {
    publish: (topic, payload, publishOptions) =>
      new Promise<void>((resolve, reject) => {
        client.publish(
          topic,
          Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
          { qos: publishOptions.qos, retain: publishOptions.retain ?? false },
          (error) => (error ? reject(connectionError(url, error)) : resolve()),
        );
      }),
    subscribe: (filters, qos) =>
      new Promise<number[]>((resolve, reject) => {
        client.subscribe([...filters], { qos }, (error, granted) =>
          error ? reject(connectionError(url, error)) : resolve((granted ?? []).map((g) => g.qos)),
        );
      }),
    end: (force) =>
      new Promise<void>((resolve) => {
        client.end(force, {}, () => resolve());
      }),
  };
};

function connectionError(url: string, error: unknown): AgentError {
  return new AgentError(
    AgentErrorCode.MQTT_CONNECTION,
    `MQTT ${url}: ${errorMessage(error)}`,
    { url },
    { cause: error },
  );
}
