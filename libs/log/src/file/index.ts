import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Log, LogProducer, LogReader, ReaderOptions } from '../log.js';
import { FileLogAdmin } from './admin.js';
import { resolveConfig, type FileLogConfig } from './config.js';
import { FileLogProducer } from './producer.js';
import { FileLogReader } from './reader.js';

export type { FileLogConfig } from './config.js';
export type { MaintenanceResult } from './maintenance.js';
export {
  FILE_LOG_CHANNELS,
  type FileLogCommitEvent,
  type FileLogMaintenanceEvent,
  type FileLogRecoveryEvent,
} from './diagnostics.js';
export { FileLogAdmin } from './admin.js';
export { FileLogProducer } from './producer.js';
export { FileLogReader } from './reader.js';

/** The file-backed log; its admin also runs compaction and retention on demand. */
export interface FileLog extends Log {
  admin(): FileLogAdmin;
}

/**
 * The file-backed partitioned log of the embedded default (`npm start` with nothing installed):
 * the Kafka log's semantics on local files, for the processes of one machine. Format, durability
 * and the multi-process rules: libs/log/README.md.
 *
 * @example
 *   const log = createFileLog({ dir: '/var/lib/fleet/log' });
 *   const admin = log.admin();
 *   await admin.createTopics([{ name: 'telemetry', partitions: 8 }], { ifNotExists: true });
 *   const producer = log.producer();
 *   await producer.send([{ topic: 'telemetry', key: 'robot-17', value: new Uint8Array([1, 2, 3]) }]);
 *   const reader = log.reader({ assignments: [{ topic: 'telemetry', partition: 0, offset: 0n }] });
 *   const batches = await reader.poll();
 *   await Promise.all([reader.close(), producer.close(), admin.close()]);
 */
export function createFileLog(config: FileLogConfig): FileLog {
  const dir = resolve(config.dir);
  mkdirSync(dir, { recursive: true });
  const resolved = resolveConfig(config, dir);
  return {
    admin: (): FileLogAdmin => new FileLogAdmin(resolved),
    producer: (): LogProducer => new FileLogProducer(resolved),
    reader: (options?: ReaderOptions): LogReader => new FileLogReader(resolved, options),
  };
}
