/**
 * Commands downlink: reads fleet.commands.v1 (every partition; each gateway instance keeps its own
 * offsets in PostgreSQL, table gateway_command_offsets) and publishes each command with QoS 1 on
 * its robot's `cmd` topic. The robot's site, which the topic needs, comes from its credentials.
 *
 * A command whose deadline has passed is not published (counted as expired): a robot must not
 * start cleaning hours after the operator asked. On first start, with no stored offsets, reading
 * starts at the oldest command still kept, which the deadline check makes safe.
 *
 * Delivery is at least once: offsets are stored after the batch is published, so a gateway that
 * dies in between publishes those commands again; the agent drops a command id it has seen.
 */
import type { Log, LogReader, TopicPartitionOffset } from '@fleet/log';
import { KafkaTopics, decodeMessage } from '@fleet/protocol';
import type { Pool } from 'pg';
import type { CredentialStore } from './auth/credentials.js';
import type { MqttSide } from './ingress/mqtt-side.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';

export interface CommandDownlinkOptions {
  readonly gatewayId: string;
  readonly log: Log;
  readonly pool: Pool;
  readonly credentials: CredentialStore;
  readonly mqtt: MqttSide;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly pollMs: number;
  readonly now?: () => number;
}

export class CommandDownlink {
  readonly #o: CommandDownlinkOptions;
  readonly #now: () => number;
  #reader: LogReader | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: CommandDownlinkOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    const topic = KafkaTopics.commands;
    const admin = this.#o.log.admin();
    let begin: readonly bigint[];
    try {
      begin = await admin.beginOffsets(topic);
    } finally {
      await admin.close();
    }
    const { rows } = await this.#o.pool.query<{ partition: number; next_offset: string }>(
      'SELECT partition, next_offset FROM gateway_command_offsets WHERE gateway_id = $1 AND topic = $2',
      [this.#o.gatewayId, topic],
    );
    const stored = new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
    const assignments: TopicPartitionOffset[] = begin.map((first, partition) => {
      const at = stored.get(partition);
      // Retention may have removed what we had not read: start at the oldest kept.
      return { topic, partition, offset: at === undefined || at < first ? first : at };
    });
    this.#reader = this.#o.log.reader({ assignments, maxWaitMs: this.#o.pollMs });
    this.#running = this.#loop();
  }

  async #loop(): Promise<void> {
    const reader = this.#reader as LogReader;
    let delay = 200;
    while (!this.#stopped) {
      try {
        const batches = await reader.poll();
        for (const batch of batches) {
          for (const record of batch.records) await this.#deliver(record.value, record.offset);
          await this.#o.pool.query(
            `INSERT INTO gateway_command_offsets (gateway_id, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
             ON CONFLICT (gateway_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()`,
            [this.#o.gatewayId, batch.topic, batch.partition, batch.nextOffset.toString()],
          );
        }
        delay = 200;
      } catch (error) {
        if (this.#stopped) return;
        this.#o.logger.warn(
          { error: (error as Error).message, retryInMs: delay },
          'command downlink failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
        // Re-read from the stored offsets so nothing polled but not published is skipped.
        await this.#rewind().catch(() => undefined);
      }
    }
  }

  async #rewind(): Promise<void> {
    const reader = this.#reader as LogReader;
    const { rows } = await this.#o.pool.query<{ partition: number; next_offset: string }>(
      'SELECT partition, next_offset FROM gateway_command_offsets WHERE gateway_id = $1 AND topic = $2',
      [this.#o.gatewayId, KafkaTopics.commands],
    );
    for (const row of rows)
      reader.seek({ topic: KafkaTopics.commands, partition: row.partition, offset: BigInt(row.next_offset) });
  }

  async #deliver(value: Uint8Array | null, offset: bigint): Promise<void> {
    const { metrics, logger } = this.#o;
    if (value === null) return;
    let command;
    try {
      const message = decodeMessage(value);
      if (message.kind !== 'command') throw new Error(`expected a command, got ${message.kind}`);
      command = message;
    } catch (error) {
      metrics.commands.inc({ outcome: 'invalid' });
      logger.warn(
        { offset: offset.toString(), error: (error as Error).message },
        'invalid record on the commands topic; skipped',
      );
      return;
    }
    if (command.deadline < this.#now()) {
      metrics.commands.inc({ outcome: 'expired' });
      logger.info(
        { commandId: command.commandId, robotId: command.robotId },
        'command expired before delivery; not sent',
      );
      return;
    }
    const credentials = await this.#o.credentials.lookup(command.robotId);
    if (credentials === undefined) {
      metrics.commands.inc({ outcome: 'invalid' });
      logger.warn(
        { commandId: command.commandId, robotId: command.robotId },
        'command for an unknown robot; skipped',
      );
      return;
    }
    await this.#o.mqtt.publish(
      this.#o.mqtt.commandTopic(command.robotId, credentials.siteId),
      Buffer.from(value),
      1,
    );
    metrics.commands.inc({ outcome: 'published' });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#reader?.close();
    await this.#running?.catch(() => undefined);
  }
}
