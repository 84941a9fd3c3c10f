/**
 * The checker side of the fault tests: read a real Kafka topic completely, from given offsets (or 0)
 * up to the end offsets it has when the read starts, and count the telemetry samples in it by
 * (robot, boot, seq).
 */
import { createKafkaLog, type LogRecord, type Offset } from '@fleet/log';
import { decodeTelemetryBatch } from '@fleet/protocol';
import { sampleKey } from './robot-load.js';

/** Every record of `topic` from `from` (per partition; default 0) to the current end offsets. */
export async function readTopic(
  brokers: readonly string[],
  topic: string,
  from?: readonly Offset[],
  timeoutMs = 30_000,
): Promise<LogRecord[]> {
  const log = createKafkaLog({ brokers, clientId: 'gateway-fault-checker' });
  const admin = log.admin();
  let ends: readonly Offset[];
  try {
    ends = await admin.endOffsets(topic);
  } finally {
    await admin.close();
  }
  const starts = ends.map((_, partition) => from?.[partition] ?? 0n);
  const reader = log.reader({
    assignments: starts.map((offset, partition) => ({ topic, partition, offset })),
    maxWaitMs: 200,
  });
  const records: LogRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const behind = reader.position().filter((p) => p.offset < (ends[p.partition] ?? 0n));
      if (behind.length === 0) return records;
      if (Date.now() > deadline) {
        throw new Error(
          `reading ${topic} did not reach its end offsets within ${timeoutMs} ms: ` +
            behind.map((p) => `partition ${p.partition} at ${p.offset} of ${ends[p.partition]}`).join(', '),
        );
      }
      for (const batch of await reader.poll()) records.push(...batch.records);
    }
  } finally {
    await reader.close();
  }
}

/** How often each (robot, boot, seq) occurs in telemetry batch records (`sampleKey` -> count). */
export function countSamples(records: readonly LogRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    if (record.value === null) continue;
    for (const s of decodeTelemetryBatch(record.value).samples) {
      const key = sampleKey(s.robotId, s.bootId, s.seq);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * When each telemetry batch was first written to Kafka: `sampleKey` of its first sample -> the
 * earliest record timestamp (CreateTime, which the gateway's producer stamps when it builds the
 * produce request, before the broker sees it).
 */
export function firstWrites(records: readonly LogRecord[]): Map<string, number> {
  const first = new Map<string, number>();
  for (const record of records) {
    if (record.value === null) continue;
    const batch = decodeTelemetryBatch(record.value);
    const head = batch.samples[0];
    if (head === undefined) continue;
    const key = sampleKey(head.robotId, head.bootId, head.seq);
    first.set(key, Math.min(first.get(key) ?? Infinity, record.timestamp));
  }
  return first;
}
