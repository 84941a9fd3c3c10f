import { Admin, ListOffsetTimestamps } from '@platformatic/kafka';
import { LogError } from '../errors.js';
import type { CreateTopicsOptions, LogAdmin, Offset, TopicSpec } from '../log.js';
import { clientOptions, type KafkaLogConfig } from './config.js';
import { toLogError } from './errors.js';

const LEADER_WAIT_MS = 30_000;

export class KafkaLogAdmin implements LogAdmin {
  readonly #admin: Admin;
  #closed = false;

  constructor(config: KafkaLogConfig) {
    this.#admin = new Admin(clientOptions(config, 'admin'));
  }

  async createTopics(topics: readonly TopicSpec[], options: CreateTopicsOptions = {}): Promise<void> {
    this.#open();
    for (const spec of topics) {
      if (spec.name === '' || !Number.isInteger(spec.partitions) || spec.partitions < 1) {
        throw new LogError('INVALID_ARGUMENT', `invalid topic spec ${JSON.stringify(spec)}`, {
          topic: spec.name,
        });
      }
    }
    // CreateTopics takes one partition count per request in this client: one request per topic.
    await Promise.all(topics.map((spec) => this.#createOne(spec, options.ifNotExists === true)));
    await this.#waitForLeaders(topics);
  }

  async #createOne(spec: TopicSpec, ifNotExists: boolean): Promise<void> {
    const configs = Object.entries({
      ...(spec.compacted === true ? { 'cleanup.policy': 'compact' } : {}),
      ...spec.config,
    }).map(([name, value]) => ({ name, value }));
    try {
      await this.#admin.createTopics({
        topics: [spec.name],
        partitions: spec.partitions,
        replicas: -1,
        configs,
      });
    } catch (error) {
      const mapped = toLogError(error, `creating topic ${spec.name}`, { topic: spec.name });
      if (!(ifNotExists && mapped.code === 'ALREADY_EXISTS')) throw mapped;
      const existing = await this.#partitionCountOfNew(spec.name);
      if (existing !== spec.partitions) {
        throw new LogError(
          'ALREADY_EXISTS',
          `topic ${spec.name} exists with ${existing} partitions, wanted ${spec.partitions}`,
          { topic: spec.name },
        );
      }
    }
  }

  /**
   * The partition count of a topic that CreateTopics just reported as existing. When another client
   * created it a moment ago (several gateway workers starting at once), the metadata may not list
   * it yet: NOT_FOUND is retried until LEADER_WAIT_MS.
   */
  async #partitionCountOfNew(topic: string): Promise<number> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    for (;;) {
      try {
        return await this.partitionCount(topic);
      } catch (error) {
        if (!LogError.is(error, 'NOT_FOUND') || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** A topic is usable once every partition has a leader; CreateTopics returns before that. */
  async #waitForLeaders(topics: readonly TopicSpec[]): Promise<void> {
    const names = topics.map((t) => t.name);
    const deadline = Date.now() + LEADER_WAIT_MS;
    for (;;) {
      try {
        const metadata = await this.#admin.metadata({ topics: names, forceUpdate: true });
        const ready = names.every((name) => {
          const topic = metadata.topics.get(name);
          return (
            topic !== undefined && topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0)
          );
        });
        if (ready) return;
      } catch (error) {
        const mapped = toLogError(error, `waiting for leaders of ${names.join(', ')}`);
        if (!mapped.retriable && mapped.code !== 'NOT_FOUND') throw mapped;
      }
      if (Date.now() > deadline) {
        throw new LogError(
          'TIMEOUT',
          `partitions of ${names.join(', ')} have no leader after ${LEADER_WAIT_MS} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async deleteTopics(topics: readonly string[]): Promise<void> {
    this.#open();
    if (topics.length === 0) return;
    try {
      await this.#admin.deleteTopics({ topics: [...topics] });
    } catch (error) {
      throw toLogError(error, `deleting topics ${topics.join(', ')}`);
    }
  }

  async partitionCount(topic: string): Promise<number> {
    this.#open();
    try {
      const metadata = await this.#admin.metadata({ topics: [topic], forceUpdate: true });
      const found = metadata.topics.get(topic);
      if (found === undefined) throw new LogError('NOT_FOUND', `unknown topic ${topic}`, { topic });
      return found.partitionsCount;
    } catch (error) {
      throw toLogError(error, `reading the partition count of ${topic}`, { topic });
    }
  }

  endOffsets(topic: string): Promise<readonly Offset[]> {
    return this.#listOffsets(topic, ListOffsetTimestamps.LATEST);
  }

  beginOffsets(topic: string): Promise<readonly Offset[]> {
    return this.#listOffsets(topic, ListOffsetTimestamps.EARLIEST);
  }

  async #listOffsets(topic: string, timestamp: bigint): Promise<readonly Offset[]> {
    const count = await this.partitionCount(topic);
    try {
      const listed = await this.#admin.listOffsets({
        topics: [
          {
            name: topic,
            partitions: Array.from({ length: count }, (_, partitionIndex) => ({ partitionIndex, timestamp })),
          },
        ],
      });
      const offsets = new Array<Offset>(count).fill(-1n);
      for (const t of listed) {
        if (t.name !== topic) continue;
        for (const p of t.partitions) offsets[p.partitionIndex] = p.offset;
      }
      return offsets;
    } catch (error) {
      throw toLogError(error, `listing offsets of ${topic}`, { topic });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#admin.close();
  }

  #open(): void {
    if (this.#closed) throw new LogError('CLOSED', 'log admin is closed');
  }
}
