/**
 * Integration tier. Real: an Apache Kafka broker (KRaft) started once per run by the global setup
 * (libs/testing/src/global-setup.ts), or the one in KAFKA_BROKERS, behind the Kafka log, running the
 * shared Log contract suite (log-suite.ts) that the file-backed log passes too. Nothing is stubbed;
 * every topic name is new.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createKafkaLog } from '../src/index.js';
import { logSuite } from './log-suite.js';

// The global setup provides this (its declaration: libs/testing/src/kafka-context.ts; a library may
// not import the test package, so the augmentation is repeated here).
declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

logSuite('Kafka (real broker)', {
  create: async () => createKafkaLog({ brokers: inject('kafkaBrokers').split(','), clientId: 'log-suite' }),
  topicName: (base) => `log-suite.${base}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`,
  // Kafka deletes a topic asynchronously; its metadata may name it for a moment afterwards.
  deleteVisibleWithinMs: 15_000,
});
