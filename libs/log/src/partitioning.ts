import { partitionFor } from '@fleet/protocol';
import { LogError } from './errors.js';
import type { ProduceRecord } from './log.js';

/**
 * The partition a record goes to: the explicit one if given (checked, never wrapped around), else
 * `partitionFor(key, partitionCount)` from @fleet/protocol, Kafka's murmur2 key partitioner, the one
 * key function all keyed topics share (design: "every keyed topic has the same partition count and
 * key function").
 */
export function choosePartition(record: ProduceRecord, partitionCount: number): number {
  if (record.partition === undefined) return partitionFor(record.key, partitionCount);
  if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= partitionCount) {
    throw new LogError(
      'INVALID_ARGUMENT',
      `partition ${record.partition} out of range for ${record.topic} (${partitionCount} partitions)`,
      { topic: record.topic, partition: record.partition },
    );
  }
  return record.partition;
}
