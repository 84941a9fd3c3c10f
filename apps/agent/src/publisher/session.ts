/**
 * The agent's MQTT session: one connection at a time, made again after every loss with the retry
 * module's exponential backoff and full jitter, on the injected clock (mqtt.js's fixed
 * `reconnectPeriod` is not used). URLs are tried in turn, one per attempt. After each CONNACK it
 * subscribes to the robot's own cloud-to-robot topics and tells the agent (`onConnected`), which
 * publishes presence, starts the time sync and lets the publisher resend what is not acknowledged.
 */
import { withTimeout, type Clock, type TimerHandle } from '../clock/clock.js';
import { emit } from '../diagnostics.js';
import { AgentError, AgentErrorCode, errorMessage } from '../errors.js';
import type { Backoff } from '../retry.js';
import type { ConnectMqtt, MqttConnectOptions, MqttConnection, PublishOptions } from './mqtt-client.js';

/** What the publisher, the commands and the time sync use to send. */
export interface MqttLink {
  readonly connected: boolean;
  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void>;
}

export interface MqttSessionOptions {
  readonly urls: readonly string[];
  /** Built per attempt, so that the last will carries a fresh timestamp. */
  connectOptions(): MqttConnectOptions;
  readonly connect: ConnectMqtt;
  readonly clock: Clock;
  readonly backoff: Backoff;
  /** Filters subscribed (QoS 1) after every CONNACK. */
  readonly subscriptions: readonly string[];
  onConnected(): void;
  onDisconnected(): void;
  onMessage(topic: string, payload: Uint8Array): void;
}

export class MqttSession implements MqttLink {
  private connection: MqttConnection | undefined;
  private isConnected = false;
  private timer: TimerHandle | undefined;
  private attempt = 0;
  private stopped = true;
  private lastError: AgentError | undefined;
  private connects = 0;
  private disconnects = 0;

  constructor(private readonly options: MqttSessionOptions) {}

  get connected(): boolean {
    return this.isConnected;
  }

  /** The last failure (what `doctor` and the logs show when the broker cannot be reached). */
  get error(): AgentError | undefined {
    return this.lastError;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void> {
    const connection = this.connection;
    if (!this.isConnected || connection === undefined) {
      return Promise.reject(
        new AgentError(AgentErrorCode.MQTT_CONNECTION, 'not connected to the MQTT broker'),
      );
    }
    return connection.publish(topic, payload, options);
  }

  /** Drops the connection (after a publish failed on it); the usual backoff applies. */
  reconnect(reason: string): void {
    const connection = this.connection;
    if (connection === undefined) return;
    emit('mqtt', 'warn', 'mqtt_reconnect_forced', { reason });
    void connection.end(true);
  }

  /**
   * Ends the session: `beforeDisconnect` runs while still connected (the offline presence), then a
   * clean DISCONNECT so the broker does not publish the last will. Gives up waiting after `timeoutMs`.
   */
  async stop(beforeDisconnect?: (link: MqttLink) => Promise<void>, timeoutMs = 5000): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const connection = this.connection;
    if (connection === undefined) return;
    if (this.isConnected && beforeDisconnect !== undefined) {
      await withTimeout(
        this.options.clock,
        beforeDisconnect(this),
        timeoutMs,
        `offline presence not acknowledged within ${timeoutMs} ms`,
      ).catch((e: unknown) =>
        emit('mqtt', 'warn', 'mqtt_before_disconnect_failed', { error: errorMessage(e) }),
      );
    }
    const ended = await withTimeout(
      this.options.clock,
      connection.end(false),
      timeoutMs,
      'no clean disconnect',
    ).then(
      () => true,
      () => false,
    );
    if (!ended) await connection.end(true);
  }

  stats() {
    return {
      connected: this.isConnected,
      connects: this.connects,
      disconnects: this.disconnects,
      attempt: this.attempt,
      lastError: this.lastError?.message,
    };
  }

  private open(): void {
    if (this.stopped) return;
    const { urls } = this.options;
    const url = urls[this.attempt % urls.length] ?? urls[0] ?? '';
    this.attempt++;
    emit('mqtt', 'debug', 'mqtt_connecting', { url, attempt: this.attempt });
    const connection = this.options.connect(url, this.options.connectOptions(), {
      onConnect: () => {
        if (this.connection !== connection) return;
        this.isConnected = true;
        this.connects++;
        this.attempt = 0;
        this.lastError = undefined;
        this.options.backoff.reset();
        emit('mqtt', 'info', 'mqtt_connected', { url });
        connection.subscribe(this.options.subscriptions, 1).then(
          (granted) => {
            const refused = this.options.subscriptions.filter((_, i) => (granted[i] ?? 128) >= 128);
            if (refused.length > 0) emit('mqtt', 'error', 'mqtt_subscribe_refused', { filters: refused });
          },
          (e: unknown) => emit('mqtt', 'warn', 'mqtt_subscribe_failed', { error: errorMessage(e) }),
        );
        this.options.onConnected();
      },
      onMessage: (topic, payload) => {
        if (this.connection === connection) this.options.onMessage(topic, payload);
      },
      onError: (error) => {
        this.lastError = error;
        emit('mqtt', error.code === AgentErrorCode.MQTT_AUTH ? 'error' : 'warn', 'mqtt_error', {
          url,
          code: error.code,
          error: error.message,
        });
      },
      onClose: () => {
        if (this.connection !== connection) return;
        this.connection = undefined;
        const was = this.isConnected;
        this.isConnected = false;
        if (was) {
          this.disconnects++;
          emit('mqtt', 'warn', 'mqtt_disconnected', { url });
          this.options.onDisconnected();
        }
        void connection.end(true);
        this.scheduleReconnect();
      },
    });
    this.connection = connection;
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delayMs = this.options.backoff.next();
    emit('mqtt', 'info', 'mqtt_reconnect_scheduled', { delayMs, attempt: this.options.backoff.attempts });
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.open();
    }, delayMs);
  }
}
