/**
 * A scripted `ConnectMqtt` for unit tests of the session: each call records a connection whose
 * fate the test decides (accept, refuse, drop), and whose publishes the test acknowledges.
 */
import type {
  ConnectMqtt,
  MqttConnectOptions,
  MqttConnection,
  MqttConnectionHandlers,
  PublishOptions,
} from '../../src/publisher/mqtt-client.js';
import { AgentError, AgentErrorCode } from '../../src/errors.js';

export interface FakePublish {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly options: PublishOptions;
  ack(): void;
  fail(error?: Error): void;
}

export class FakeConnection implements MqttConnection {
  readonly publishes: FakePublish[] = [];
  readonly subscriptions: string[] = [];
  ended: 'graceful' | 'forced' | undefined;
  private closed = false;

  constructor(
    readonly url: string,
    readonly options: MqttConnectOptions,
    private readonly handlers: MqttConnectionHandlers,
  ) {}

  accept(): void {
    this.handlers.onConnect();
  }

  refuse(auth = false): void {
    this.handlers.onError(
      new AgentError(
        auth ? AgentErrorCode.MQTT_AUTH : AgentErrorCode.MQTT_CONNECTION,
        auth ? 'not authorised' : 'ECONNREFUSED',
      ),
    );
    this.close();
  }

  /** The network dropped the connection. */
  drop(): void {
    this.close();
  }

  message(topic: string, payload: Uint8Array): void {
    this.handlers.onMessage(topic, payload);
  }

  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.publishes.push({
        topic,
        payload,
        options,
        ack: () => resolve(),
        fail: (e) => reject(e ?? new Error('failed')),
      });
    });
  }

  async subscribe(filters: readonly string[]): Promise<number[]> {
    this.subscriptions.push(...filters);
    return filters.map(() => 1);
  }

  async end(force: boolean): Promise<void> {
    this.ended ??= force ? 'forced' : 'graceful';
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose();
  }
}

export class FakeBroker {
  readonly connections: FakeConnection[] = [];

  readonly connect: ConnectMqtt = (url, options, handlers) => {
    const c = new FakeConnection(url, options, handlers);
    this.connections.push(c);
    return c;
  };

  get last(): FakeConnection {
    const c = this.connections[this.connections.length - 1];
    if (c === undefined) throw new Error('no connection attempt yet');
    return c;
  }
}
