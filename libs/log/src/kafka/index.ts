import type { GroupMember, GroupMemberOptions } from '../group.js';
import type { Log, LogAdmin, LogProducer, LogReader, ReaderOptions } from '../log.js';
import { KafkaLogAdmin } from './admin.js';
import type { KafkaLogConfig } from './config.js';
import { KafkaGroupMember } from './group.js';
import { KafkaLogProducer } from './producer.js';
import { KafkaLogReader } from './reader.js';

export type { KafkaLogConfig } from './config.js';
export { KafkaLogAdmin } from './admin.js';
export { KafkaGroupMember } from './group.js';
export { KafkaLogProducer } from './producer.js';
export { KafkaLogReader } from './reader.js';

/**
 * The Kafka log. Each part opens its own connections on first use; close each part you take.
 *
 * @example
 *   const log = createKafkaLog({ brokers: ['127.0.0.1:9092'], clientId: 'gateway' });
 *   const admin = log.admin();
 *   await admin.createTopics([{ name: 'telemetry', partitions: 8 }], { ifNotExists: true });
 *   const producer = log.producer();
 *   await producer.send([{ topic: 'telemetry', key: 'robot-17', value: new Uint8Array([1, 2, 3]) }]);
 *   const reader = log.reader({ assignments: [{ topic: 'telemetry', partition: 0, offset: 0n }] });
 *   const batches = await reader.poll();
 *   await Promise.all([reader.close(), producer.close(), admin.close()]);
 */
export function createKafkaLog(config: KafkaLogConfig): Log {
  const frozen: KafkaLogConfig = Object.freeze({ ...config, brokers: Object.freeze([...config.brokers]) });
  return {
    admin: (): LogAdmin => new KafkaLogAdmin(frozen),
    producer: (): LogProducer => new KafkaLogProducer(frozen),
    reader: (options?: ReaderOptions): LogReader => new KafkaLogReader(frozen, options),
    groupMember: (options: GroupMemberOptions): GroupMember => new KafkaGroupMember(frozen, options),
  };
}
