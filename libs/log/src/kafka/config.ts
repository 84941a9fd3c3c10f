import type { BaseOptions } from '@platformatic/kafka';

/** How to reach Kafka. Built once from the app's validated configuration and passed in. */
export interface KafkaLogConfig {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  /** Client id prefix shown in broker logs and metrics (`<clientId>-admin`, `-producer`, `-reader`). */
  readonly clientId: string;
  /** TCP connect timeout per attempt. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Time a request may wait for its answer. Default 30000 ms. */
  readonly requestTimeoutMs?: number;
  /**
   * The client's own retries of one operation (reconnects, leader moves) before the error reaches
   * the caller as a LogError. Keep small: the caller's retry module owns longer strategies.
   * Default 3, spaced `retryDelayMs` (default 250 ms).
   */
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /**
   * Upper bound of one produce request, retries included, like the Java client's
   * `delivery.timeout.ms`: past it send() rejects with a retriable TIMEOUT. Default 30000 ms.
   */
  readonly deliveryTimeoutMs?: number;
  /**
   * Like the Java client's `linger.ms` (default 5 ms since Kafka 4.0, KIP-1030): how long a record
   * may wait for others to share its produce request. Fewer, fuller requests cost the producer and
   * the broker less CPU per record; each record waits at most this long more. A request that would
   * be full leaves at once. Default 0: a record leaves as soon as no request is in flight.
   */
  readonly lingerMs?: number;
}

export function clientOptions(config: KafkaLogConfig, role: string): BaseOptions {
  if (config.brokers.length === 0) throw new TypeError('KafkaLogConfig.brokers is empty');
  return {
    clientId: `${config.clientId}-${role}`,
    bootstrapBrokers: [...config.brokers],
    connectTimeout: config.connectTimeoutMs ?? 5000,
    requestTimeout: config.requestTimeoutMs ?? 30_000,
    retries: config.retries ?? 3,
    retryDelay: config.retryDelayMs ?? 250,
    autocreateTopics: false,
  };
}
