import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
  fsyncSync,
} from 'node:fs';
import { join } from 'node:path';
import { LogError } from '../errors.js';
import type { CreateTopicsOptions, LogAdmin, Offset, TopicSpec } from '../log.js';
import type { ResolvedFileLogConfig } from './config.js';
import { encodeHead } from './format.js';
import { closeQuietly, errno, syncDir, toLogError } from './io.js';
import { maintainPartition, type MaintenanceResult } from './maintenance.js';
import {
  HEAD_FILE,
  isLegalTopicName,
  listSegments,
  partitionDir,
  readHead,
  readTopicMeta,
  segmentPath,
  TOPIC_FILE,
  topicDir,
  type TopicMeta,
} from './partition.js';

/**
 * Topics of the file-backed log. A topic appears whole or not at all: it is built in a staging
 * folder (`~creating.<name>.<random>`), fsynced, and renamed into place; deletion renames it away
 * (`~deleted.<name>.<random>`) before removing the files.
 */
export class FileLogAdmin implements LogAdmin {
  readonly #config: ResolvedFileLogConfig;
  #closed = false;

  constructor(config: ResolvedFileLogConfig) {
    this.#config = config;
  }

  async createTopics(topics: readonly TopicSpec[], options: CreateTopicsOptions = {}): Promise<void> {
    this.#open();
    for (const spec of topics) {
      if (!isLegalTopicName(spec.name) || !Number.isInteger(spec.partitions) || spec.partitions < 1) {
        throw new LogError('INVALID_ARGUMENT', `invalid topic spec ${JSON.stringify(spec)}`, {
          topic: spec.name,
        });
      }
    }
    for (const spec of topics) this.#createOne(spec, options.ifNotExists === true);
  }

  #createOne(spec: TopicSpec, ifNotExists: boolean): void {
    const final = topicDir(this.#config.dir, spec.name);
    if (!existsSync(join(final, TOPIC_FILE))) {
      const staging = join(this.#config.dir, `~creating.${spec.name}.${randomBytes(4).toString('hex')}`);
      try {
        const meta: TopicMeta = {
          name: spec.name,
          partitions: spec.partitions,
          compacted: spec.compacted === true,
          config: { ...spec.config },
          id: randomBytes(8).toString('hex'),
        };
        mkdirSync(staging);
        writeDurably(join(staging, TOPIC_FILE), Buffer.from(`${JSON.stringify(meta, null, 2)}\n`));
        for (let p = 0; p < spec.partitions; p++) {
          const dir = join(staging, String(p));
          mkdirSync(dir);
          writeDurably(segmentPath(dir, 0n, 'log'), Buffer.alloc(0));
          writeDurably(segmentPath(dir, 0n, 'idx'), Buffer.alloc(0));
          writeDurably(join(dir, HEAD_FILE), encodeHead({ nextOffset: 0n, activeBase: 0n, activeSize: 0 }));
          syncDir(dir);
        }
        syncDir(staging);
        renameSync(staging, final);
        syncDir(this.#config.dir);
        return;
      } catch (error) {
        rmSync(staging, { recursive: true, force: true });
        // Lost a race with another creator: the topic exists now.
        if (errno(error) !== 'ENOTEMPTY' && errno(error) !== 'EEXIST') {
          throw toLogError(error, `creating topic ${spec.name}`, { topic: spec.name });
        }
      }
    }
    if (!ifNotExists) throw new LogError('ALREADY_EXISTS', `topic ${spec.name} exists`, { topic: spec.name });
    const existing = readTopicMeta(this.#config.dir, spec.name).partitions;
    if (existing !== spec.partitions) {
      throw new LogError(
        'ALREADY_EXISTS',
        `topic ${spec.name} exists with ${existing} partitions, wanted ${spec.partitions}`,
        { topic: spec.name },
      );
    }
  }

  async deleteTopics(topics: readonly string[]): Promise<void> {
    this.#open();
    for (const topic of topics) {
      readTopicMeta(this.#config.dir, topic); // NOT_FOUND, as Kafka answers
      const graveyard = join(this.#config.dir, `~deleted.${topic}.${randomBytes(4).toString('hex')}`);
      try {
        renameSync(topicDir(this.#config.dir, topic), graveyard);
        syncDir(this.#config.dir);
      } catch (error) {
        throw toLogError(error, `deleting topic ${topic}`, { topic });
      }
      rmSync(graveyard, { recursive: true, force: true });
    }
  }

  async partitionCount(topic: string): Promise<number> {
    this.#open();
    return readTopicMeta(this.#config.dir, topic).partitions;
  }

  async endOffsets(topic: string): Promise<readonly Offset[]> {
    return this.#perPartition(topic, (dir, partition) => {
      const fd = openSync(join(dir, HEAD_FILE), 'r');
      try {
        return readHead(fd, { topic, partition }).nextOffset;
      } finally {
        closeSync(fd);
      }
    });
  }

  async beginOffsets(topic: string): Promise<readonly Offset[]> {
    return this.#perPartition(topic, (dir) => listSegments(dir)[0] ?? 0n);
  }

  /**
   * Runs retention and (for compacted topics) compaction on every partition now; the writers also
   * run it after each segment roll. Specific to the file log: Kafka's log cleaner runs in the broker.
   */
  async compact(topic: string): Promise<readonly MaintenanceResult[]> {
    this.#open();
    const meta = readTopicMeta(this.#config.dir, topic);
    const results: MaintenanceResult[] = [];
    for (let p = 0; p < meta.partitions; p++) {
      try {
        results.push(await maintainPartition(this.#config, topic, p));
      } catch (error) {
        throw toLogError(error, `compacting ${topic}/${p}`, { topic, partition: p });
      }
    }
    return results;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async #perPartition(
    topic: string,
    read: (dir: string, partition: number) => Offset,
  ): Promise<readonly Offset[]> {
    this.#open();
    const meta = readTopicMeta(this.#config.dir, topic);
    return Array.from({ length: meta.partitions }, (_, p) => {
      try {
        return read(partitionDir(this.#config.dir, topic, p), p);
      } catch (error) {
        throw toLogError(error, `reading offsets of ${topic}/${p}`, { topic, partition: p });
      }
    });
  }

  #open(): void {
    if (this.#closed) throw new LogError('CLOSED', 'log admin is closed');
  }
}

function writeDurably(path: string, data: Buffer): void {
  writeFileSync(path, data, { flag: 'wx' });
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeQuietly(fd);
  }
}
