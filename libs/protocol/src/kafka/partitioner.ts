/**
 * Record keys and the one partitioner of every keyed topic.
 *
 * The partition of a keyed record is the one Apache Kafka's Java client picks by default
 * (`BuiltInPartitioner.partitionForKey`, formerly `DefaultPartitioner`):
 *   toPositive(murmur2(keyBytes)) % numPartitions, with toPositive(x) = x & 0x7fffffff
 * so Kafka's own tools (console producer, Kafka Streams, Connect) place a robot's records where we do.
 * murmur2 here is Kafka's variant of MurmurHash2 (`Utils.murmur2`): seed 0x9747b28c, 32-bit,
 * 4-byte little-endian blocks, the tail bytes folded in from the highest down.
 */
import { ProtocolError, ProtocolErrorCode } from '../errors.js';
import { ID_PATTERN } from '../rules.js';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;
const utf8 = new TextEncoder();

/** Kafka's murmur2 of `data`, as the signed 32-bit int Java returns. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const blocks = length & ~3;
  let h = SEED ^ length;
  for (let i = 0; i < blocks; i += 4) {
    let k = view.getInt32(i, true);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= view.getUint8(blocks + 2) << 16;
    if (tail >= 2) h ^= view.getUint8(blocks + 1) << 8;
    h ^= view.getUint8(blocks);
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Partition of a keyed record among `numPartitions`, identical to Kafka's Java default partitioner
 * for records with a key. A string key is hashed as its UTF-8 bytes, which is what `kafkaKey` writes.
 *
 * @example
 * partitionFor('r-17', 12) === partitionFor(kafkaKey('r-17'), 12); // true
 */
export function partitionFor(key: string | Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1 || numPartitions > 0x7fff_ffff) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  const bytes = typeof key === 'string' ? utf8.encode(key) : key;
  return (murmur2(bytes) & 0x7fff_ffff) % numPartitions;
}

/**
 * The key of every keyed topic: the robot id as UTF-8 (ASCII, given ID_PATTERN). Throws BAD_TOPIC
 * for an id outside the pattern, which would also be a key no other component could produce.
 */
export function kafkaKey(robotId: string): Uint8Array {
  if (!ID_PATTERN.test(robotId)) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_TOPIC,
      `Kafka key: robot id ${JSON.stringify(robotId)} does not match ${ID_PATTERN.source}`,
      {
        robotId,
      },
    );
  }
  return utf8.encode(robotId);
}

/** The robot id of a record key; BAD_TOPIC when the key is missing or not a robot id. */
export function parseKafkaKey(key: Uint8Array | null | undefined): string {
  if (key === null || key === undefined) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_TOPIC,
      'Kafka key is missing; keyed topics are keyed by robot id',
      {},
    );
  }
  let robotId = '';
  for (const b of key) robotId += String.fromCharCode(b);
  if (!ID_PATTERN.test(robotId)) {
    throw new ProtocolError(
      ProtocolErrorCode.BAD_TOPIC,
      `Kafka key ${JSON.stringify(robotId)} is not a robot id (${ID_PATTERN.source})`,
      {
        length: key.length,
      },
    );
  }
  return robotId;
}
