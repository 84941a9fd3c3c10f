/**
 * The bridge: one MQTT PUBLISH in, its Kafka records durably written (acks=all) out, and only then
 * does the caller acknowledge the PUBLISH (PUBACK). Every payload is decoded and validated with
 * libs/protocol; what does not decode, does not match its topic, or is not the robot's to publish
 * goes to the dead-letter topic with its reason and its bytes unchanged, and is acknowledged too:
 * a robot resending it would never make it valid, and the connection's other messages must flow.
 *
 * Per channel:
 *   telemetry  -> fleet.telemetry.v1 (binary batch bytes as published; JSON is re-encoded)
 *   events     -> fleet.robot-events.v1
 *   acks       -> fleet.command-acks.v1
 *   presence   -> embedded broker: validated, not forwarded (the broker's own connect/disconnect
 *                 events are the source of truth); external broker: fleet.robot-events.v1 and the
 *                 compacted fleet.presence.v1, with a last will stamped with the receive time
 *   time/req   -> answered on the robot's time/resp with the gateway clock; nothing to Kafka
 *
 * Backpressure: Kafka being slow or down makes `handle` wait (retrying with backoff), so the
 * broker stops reading that connection; `maxInflightBytes` bounds the payload bytes waiting
 * across all connections.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LogError, type LogProducer, type ProduceRecord, type RecordKey } from '@fleet/log';
import {
  DeadLetterReason,
  KafkaTopics,
  ProtocolError,
  checkPayloadSize,
  deadLetterHeaders,
  decodePayload,
  encodeMessage,
  encodeTelemetryBatch,
  mqttTopic,
  parseMqttTopic,
  type DeadLetterReasonCode,
  type MqttTopicParts,
  type Presence,
} from '@fleet/protocol';
import type { RobotIdentity } from '../auth/credentials.js';
import { authorizePublish, publishAcl } from '../auth/authorize.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import { ByteBudget } from './byte-budget.js';

export type PublishOutcome = 'kafka' | 'dead_letter' | 'answered' | 'ignored';

export interface InboundPublish {
  readonly topic: string;
  readonly payload: Buffer;
  /** The authenticated robot (embedded broker); absent when an external broker did the auth. */
  readonly identity?: RobotIdentity;
  /** False once the connection is gone: no PUBACK can be sent, so retrying stops. */
  readonly alive?: () => boolean;
}

/** `handle` could not make the publish durable; the caller closes the connection (no PUBACK). */
export class BridgeError extends Error {
  override readonly name = 'BridgeError';
}

export interface BridgeOptions {
  readonly producer: LogProducer;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly maxInflightBytes: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** 0: retry while the connection lives. */
  readonly maxPublishWaitMs: number;
  /** Publishes a cloud-to-robot message (time/resp) on the MQTT side. */
  readonly respond: (topic: string, payload: Buffer) => Promise<void>;
  /** Forward presence-channel payloads to Kafka (external broker mode). */
  readonly forwardPresence: boolean;
  readonly now?: () => number;
}

interface Routed {
  readonly records: ProduceRecord[];
  readonly samples: number;
}

/** A time/req to answer on the MQTT side (nothing goes to Kafka). */
interface Answer {
  readonly topic: string;
  readonly payload: Buffer;
}

/**
 * What is worked out once per authenticated robot rather than once per PUBLISH: its own publish
 * topics with their parts (see `publishAcl`) and its record key as bytes (the partitioner hashes
 * them and the Kafka client writes them, so a string key would be encoded twice per record).
 */
interface Robot {
  readonly acl: ReadonlyMap<string, MqttTopicParts>;
  readonly key: Uint8Array;
}

export class Bridge {
  readonly #o: BridgeOptions;
  readonly #now: () => number;
  readonly #budget: ByteBudget;
  /** Per identity object (one per connection), so it goes with the connection. */
  readonly #robots = new WeakMap<RobotIdentity, Robot>();
  #closed = false;

  constructor(options: BridgeOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#budget = new ByteBudget(options.maxInflightBytes);
  }

  /** Resolves once the publish is durable in Kafka (or answered); rejects with BridgeError otherwise. */
  async handle(publish: InboundPublish): Promise<PublishOutcome> {
    const receivedAt = this.#now();
    const { metrics } = this.#o;
    let parts: MqttTopicParts;
    let key: RecordKey;
    if (publish.identity !== undefined) {
      const robot = this.#robot(publish.identity);
      const own = robot.acl.get(publish.topic);
      if (own !== undefined) {
        parts = own;
      } else {
        const decision = authorizePublish(publish.identity, publish.topic);
        if (!decision.ok) {
          metrics.aclRefusals.inc({ operation: 'publish' });
          this.#o.logger.warn(
            { robotId: publish.identity.robotId, topic: publish.topic, reason: decision.message },
            'publish refused',
          );
          return this.#deadLetter(
            publish,
            DeadLetterReason.UNAUTHORISED,
            decision.message,
            receivedAt,
            publish.identity.robotId,
          );
        }
        parts = decision.value;
      }
      key = robot.key;
    } else {
      try {
        parts = parseMqttTopic(publish.topic);
      } catch (error) {
        return this.#deadLetter(publish, codeOf(error), (error as Error).message, receivedAt);
      }
      key = parts.robotId;
    }

    let routed: Routed | Answer | 'ignored';
    try {
      routed = this.#route(parts, key, publish.payload, receivedAt);
    } catch (error) {
      if (error instanceof ProtocolError || error instanceof MismatchError) {
        metrics.figures.countPublish(parts.channel, 'dead_letter');
        return this.#deadLetter(publish, codeOf(error), error.message, receivedAt, parts.robotId);
      }
      throw error;
    }
    if (routed === 'ignored') {
      metrics.figures.countPublish(parts.channel, routed);
      return routed;
    }
    if (!('records' in routed)) {
      await this.#o.respond(routed.topic, routed.payload);
      metrics.timeSync.inc();
      metrics.figures.countPublish(parts.channel, 'answered');
      return 'answered';
    }
    const size = publish.payload.byteLength;
    if (!this.#budget.tryTake(size)) {
      metrics.backpressureWaits.inc();
      await this.#budget.take(size);
    }
    const { figures } = metrics;
    figures.inflightBytes += size;
    figures.inflightPublishes++;
    try {
      const written = await this.#produce(routed.records, publish, receivedAt);
      if (written === 'rejected') return 'dead_letter';
    } finally {
      this.#budget.give(size);
      figures.inflightBytes -= size;
      figures.inflightPublishes--;
    }
    metrics.kafkaLatency.observe((this.#now() - receivedAt) / 1000);
    figures.countPublish(parts.channel, 'kafka');
    figures.samples += routed.samples;
    return 'kafka';
  }

  #robot(identity: RobotIdentity): Robot {
    let robot = this.#robots.get(identity);
    if (robot === undefined) {
      robot = { acl: publishAcl(identity), key: Buffer.from(identity.robotId, 'utf8') };
      this.#robots.set(identity, robot);
    }
    return robot;
  }

  /** Writes presence records (the broker's own connects and disconnects). */
  async writePresence(presence: Presence, alive: () => boolean = () => !this.#closed): Promise<void> {
    const value = encodeMessage(presence);
    await this.#produce(
      [
        { topic: KafkaTopics.robotEvents, key: presence.robotId, value },
        { topic: KafkaTopics.presence, key: presence.robotId, value },
      ],
      { topic: 'presence', payload: Buffer.alloc(0), alive },
      this.#now(),
    );
    this.#o.metrics.presence.inc({ reason: presence.reason });
  }

  close(): void {
    this.#closed = true;
    this.#budget.close();
  }

  /** Synchronous: the common case (a telemetry batch) costs no extra promise. */
  #route(
    parts: MqttTopicParts,
    key: RecordKey,
    payload: Buffer,
    receivedAt: number,
  ): Routed | Answer | 'ignored' {
    checkPayloadSize(parts.channel, payload.byteLength);
    const decoded = decodePayload(payload);
    const { robotId, siteId, channel } = parts;
    if (decoded.type === 'telemetry_batch') {
      if (channel !== 'telemetry') throw new MismatchError(`a telemetry batch on channel ${channel}`);
      const { batch } = decoded;
      if (batch.robotId !== robotId || batch.siteId !== siteId) {
        throw new MismatchError(
          `batch of robot ${batch.robotId} (site ${batch.siteId}) published on the topic of robot ${robotId} (site ${siteId})`,
        );
      }
      const value = decoded.format === 'binary' ? payload : Buffer.from(encodeTelemetryBatch(batch.samples));
      return {
        records: [{ topic: KafkaTopics.telemetry, key, value }],
        samples: batch.samples.length,
      };
    }
    const message = decoded.message;
    if (message.robotId !== robotId) {
      throw new MismatchError(
        `a ${message.kind} of robot ${message.robotId} published on the topic of robot ${robotId}`,
      );
    }
    const raw = (): Uint8Array => (decoded.format === 'binary' ? payload : encodeMessage(message));
    switch (message.kind) {
      case 'telemetry':
        if (channel !== 'telemetry') break;
        if (message.siteId !== siteId)
          throw new MismatchError(`a sample of site ${message.siteId} on the topic of site ${siteId}`);
        return {
          records: [{ topic: KafkaTopics.telemetry, key, value: encodeTelemetryBatch([message]) }],
          samples: 1,
        };
      case 'robot_event':
        if (channel !== 'events') break;
        return { records: [{ topic: KafkaTopics.robotEvents, key, value: raw() }], samples: 0 };
      case 'command_ack':
        if (channel !== 'acks') break;
        return { records: [{ topic: KafkaTopics.commandAcks, key, value: raw() }], samples: 0 };
      case 'presence': {
        if (channel !== 'presence') break;
        if (!this.#o.forwardPresence) return 'ignored';
        const stamped = message.reason === 'last_will' ? { ...message, at: receivedAt } : message;
        const value = encodeMessage(stamped);
        return {
          records: [
            { topic: KafkaTopics.robotEvents, key, value },
            { topic: KafkaTopics.presence, key, value },
          ],
          samples: 0,
        };
      }
      case 'time_sync_request': {
        if (channel !== 'time/req') break;
        const response = encodeMessage({
          kind: 'time_sync_response',
          robotId,
          requestId: message.requestId,
          agentSendTime: message.agentSendTime,
          gatewayReceiveTime: receivedAt,
          gatewaySendTime: this.#now(),
        });
        return { topic: mqttTopic('time/resp', siteId, robotId), payload: Buffer.from(response) };
      }
      default:
        break;
    }
    throw new MismatchError(`a ${message.kind} message does not belong on channel ${channel}`);
  }

  async #produce(
    records: ProduceRecord[],
    publish: InboundPublish,
    receivedAt: number,
  ): Promise<'written' | 'rejected'> {
    let delay = this.#o.retryInitialMs;
    for (;;) {
      try {
        await this.#o.producer.send(records);
        return 'written';
      } catch (error) {
        const e = error instanceof LogError ? error : new LogError('BROKER', String(error), { cause: error });
        this.#o.metrics.kafkaErrors.inc({ code: e.code });
        if (e.poison && publish.payload.byteLength > 0) {
          await this.#deadLetter(
            publish,
            DeadLetterReason.KAFKA_REJECTED,
            e.message,
            receivedAt,
            publish.identity?.robotId ?? keyText(records[0]?.key),
          );
          return 'rejected';
        }
        if (e.code === 'CLOSED' || this.#closed) throw new BridgeError(`gateway is closing: ${e.message}`);
        if (publish.alive !== undefined && !publish.alive())
          throw new BridgeError('connection closed before Kafka acknowledged');
        const waited = this.#now() - receivedAt;
        if (this.#o.maxPublishWaitMs > 0 && waited >= this.#o.maxPublishWaitMs) {
          throw new BridgeError(`Kafka has not acknowledged for ${waited} ms: ${e.message}`);
        }
        this.#o.logger.warn(
          { code: e.code, error: e.message, retryInMs: delay },
          'kafka produce failed; retrying',
        );
        await sleep(delay * (0.5 + Math.random() / 2));
        delay = Math.min(delay * 2, this.#o.retryMaxMs);
      }
    }
  }

  async #deadLetter(
    publish: InboundPublish,
    code: DeadLetterReasonCode,
    message: string,
    receivedAt: number,
    robotId?: string,
  ): Promise<PublishOutcome> {
    const headers = Object.fromEntries(
      deadLetterHeaders({ reason: { code, message }, sourceTopic: publish.topic, receivedAt }),
    );
    const record: ProduceRecord = {
      topic: KafkaTopics.deadLetter,
      key: robotId ?? publish.identity?.robotId ?? publish.topic,
      value: publish.payload,
      headers,
    };
    this.#o.metrics.deadLetters.inc({ code });
    this.#o.logger.warn(
      { topic: publish.topic, code, reason: message, bytes: publish.payload.byteLength },
      'dead-lettered',
    );
    // The dead letter itself must be durable before the PUBACK, like any record.
    const noPayload = { ...publish, payload: Buffer.alloc(0) };
    await this.#produce([record], noPayload, receivedAt);
    return 'dead_letter';
  }
}

/** The payload decoded but does not belong where it was published. */
class MismatchError extends Error {
  override readonly name = 'MismatchError';
  readonly code = DeadLetterReason.TOPIC_MISMATCH;
}

function keyText(key: RecordKey | undefined): string {
  if (key === undefined) return '';
  return typeof key === 'string'
    ? key
    : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8');
}

function codeOf(error: unknown): DeadLetterReasonCode {
  if (error instanceof ProtocolError) return error.code;
  if (error instanceof MismatchError) return error.code;
  return DeadLetterReason.TOPIC_MISMATCH;
}
