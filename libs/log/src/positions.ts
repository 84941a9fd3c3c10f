/**
 * A reader's assignment: the partitions it reads and the next offset of each. Shared by the Kafka
 * and the file-backed reader, which differ only in how they fetch.
 */
import { LogError } from './errors.js';
import type { Offset, TopicPartitionOffset } from './log.js';

export interface Position {
  readonly topic: string;
  readonly partition: number;
  offset: Offset;
  /** Bumped by assign/seek, so that a read started before them cannot move the position. */
  generation: number;
}

export const positionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export function checkPosition(p: TopicPartitionOffset): void {
  if (
    p.topic === '' ||
    !Number.isInteger(p.partition) ||
    p.partition < 0 ||
    typeof p.offset !== 'bigint' ||
    p.offset < 0n
  ) {
    throw new LogError('INVALID_ARGUMENT', `invalid position ${p.topic}/${p.partition}@${String(p.offset)}`, {
      topic: p.topic,
      partition: p.partition,
    });
  }
}

export class Positions {
  readonly #byKey = new Map<string, Position>();
  #generation = 0;

  /** Replaces the whole assignment (every position is checked first, so a bad one changes nothing). */
  assign(assignments: readonly TopicPartitionOffset[]): void {
    for (const a of assignments) checkPosition(a);
    this.#byKey.clear();
    for (const a of assignments) {
      this.#byKey.set(positionKey(a.topic, a.partition), { ...a, generation: ++this.#generation });
    }
  }

  /** Moves one assigned partition; INVALID_ARGUMENT when it is not assigned. */
  seek(position: TopicPartitionOffset): void {
    checkPosition(position);
    const current = this.#byKey.get(positionKey(position.topic, position.partition));
    if (current === undefined) {
      throw new LogError(
        'INVALID_ARGUMENT',
        `${position.topic}/${position.partition} is not assigned`,
        position,
      );
    }
    current.offset = position.offset;
    current.generation = ++this.#generation;
  }

  list(): readonly TopicPartitionOffset[] {
    return [...this.#byKey.values()].map(({ topic, partition, offset }) => ({ topic, partition, offset }));
  }

  get size(): number {
    return this.#byKey.size;
  }

  get(key: string): Position | undefined {
    return this.#byKey.get(key);
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  values(): IterableIterator<Position> {
    return this.#byKey.values();
  }
}
