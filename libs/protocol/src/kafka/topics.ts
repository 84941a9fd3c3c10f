/**
 * Kafka topic names and what each carries. Every keyed topic is keyed by the robot id (`kafkaKey`)
 * and partitioned by the same function (`partitionFor`) over the same partition count, so one robot's
 * telemetry, events, commands, acks and presence land in partitions of the same number and meet in
 * one stream instance. The `.v1` suffix versions the topic's contract; payload layouts are versioned
 * inside each record's envelope.
 */
export const KafkaTopics = {
  /** Telemetry batch records (binary, `encodeTelemetryBatch`), exactly as the robot published them. */
  telemetry: 'fleet.telemetry.v1',
  /**
   * `robot_event` records (binary, `encodeMessage`), and the gateway's `presence` records
   * (connects, disconnects, last wills) as the history of each robot's connectivity.
   */
  robotEvents: 'fleet.robot-events.v1',
  /** `command` records from the API, for the gateway to publish on `.../cmd`. */
  commands: 'fleet.commands.v1',
  /** `command_ack` records from robots (or the agent answering for a silent firmware). */
  commandAcks: 'fleet.command-acks.v1',
  /** Latest `presence` per robot; compacted. */
  presence: 'fleet.presence.v1',
  /** Latest `robot_metadata` per robot; compacted, read in full by every stream instance. */
  robotMetadata: 'fleet.robot-metadata.v1',
  /** Rejected MQTT payloads, bytes unchanged, with the `DeadLetterHeader` headers. */
  deadLetter: 'fleet.dead-letter.v1',
  /** Samples that arrived after the allowed lateness, as telemetry batch records. */
  lateData: 'fleet.late-data.v1',
  /** Alerts raised by the stream jobs, leaving through the outbox. */
  alerts: 'fleet.alerts.v1',
} as const;

export type KafkaTopicId = keyof typeof KafkaTopics;
export type KafkaTopicName = (typeof KafkaTopics)[KafkaTopicId];

export interface KafkaTopicSpec {
  readonly name: KafkaTopicName;
  /** Keyed by robot id and partitioned with `partitionFor`; all keyed topics share one partition count. */
  readonly keyed: boolean;
  /** `cleanup.policy=compact`: the latest record per key is kept for ever. */
  readonly compacted: boolean;
}

/**
 * Per-topic facts for whoever creates the topics. The dead-letter topic is unkeyed: a rejected
 * payload may not name a valid robot, and nothing downstream needs its records in robot order.
 */
export const KAFKA_TOPIC_SPECS: { readonly [K in KafkaTopicId]: KafkaTopicSpec } = {
  telemetry: { name: KafkaTopics.telemetry, keyed: true, compacted: false },
  robotEvents: { name: KafkaTopics.robotEvents, keyed: true, compacted: false },
  commands: { name: KafkaTopics.commands, keyed: true, compacted: false },
  commandAcks: { name: KafkaTopics.commandAcks, keyed: true, compacted: false },
  presence: { name: KafkaTopics.presence, keyed: true, compacted: true },
  robotMetadata: { name: KafkaTopics.robotMetadata, keyed: true, compacted: true },
  deadLetter: { name: KafkaTopics.deadLetter, keyed: false, compacted: false },
  lateData: { name: KafkaTopics.lateData, keyed: true, compacted: false },
  alerts: { name: KafkaTopics.alerts, keyed: true, compacted: false },
};
