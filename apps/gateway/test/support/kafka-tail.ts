/**
 * Reads a real Kafka topic from the offsets it had when the tail was opened, so a test sees only
 * what it caused, although the gateway's topic names are shared by every test of the run.
 */
import { createKafkaLog, type LogReader, type LogRecord } from '@fleet/log';

export class KafkaTail {
  readonly records: LogRecord[] = [];
  readonly #reader: LogReader;

  private constructor(reader: LogReader) {
    this.#reader = reader;
  }

  static async open(brokers: readonly string[], topic: string): Promise<KafkaTail> {
    const log = createKafkaLog({ brokers, clientId: 'gateway-test-tail' });
    const admin = log.admin();
    try {
      const ends = await admin.endOffsets(topic);
      return new KafkaTail(
        log.reader({
          assignments: ends.map((offset, partition) => ({ topic, partition, offset })),
          maxWaitMs: 100,
        }),
      );
    } finally {
      await admin.close();
    }
  }

  /** Polls until `done(records)` holds; throws after `timeoutMs` saying what was seen. */
  async until(
    done: (records: readonly LogRecord[]) => boolean,
    timeoutMs = 15_000,
  ): Promise<readonly LogRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.records)) {
      if (Date.now() > deadline) {
        throw new Error(`condition not met within ${timeoutMs} ms; ${this.records.length} record(s) seen`);
      }
      for (const batch of await this.#reader.poll()) this.records.push(...batch.records);
    }
    return this.records;
  }

  /** Reads for `ms` and returns everything seen (to show that something did NOT arrive). */
  async settle(ms: number): Promise<readonly LogRecord[]> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline)
      for (const batch of await this.#reader.poll()) this.records.push(...batch.records);
    return this.records;
  }

  close(): Promise<void> {
    return this.#reader.close();
  }
}
