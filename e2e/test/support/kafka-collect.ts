/**
 * Reads the platform's Kafka topics from offsets taken when a test starts, so that a test sees only
 * what happened since, although the topic names are shared by every test of the run. Collects what
 * the edge checkers need: per robot, every (boot, seq) of telemetry samples and robot events, with
 * how often each arrived, and the samples' event times against the records' write times.
 */
import { createKafkaLog, type LogReader, type Offset } from '@fleet/log';
import { KafkaTopics, decodeMessage, decodeTelemetryBatch } from '@fleet/protocol';

export interface RobotArrivals {
  /** `boot:seq` of telemetry samples -> times seen. */
  readonly samples: Map<string, number>;
  /** `boot:seq` of robot events -> times seen. */
  readonly events: Map<string, number>;
  /** Largest |record time - sample event time| (ms) seen, for the clock check. */
  maxSkewMs: number;
  /** Smallest and largest event time seen. */
  firstEventTime: number;
  lastEventTime: number;
}

export class EdgeArrivals {
  readonly robots = new Map<string, RobotArrivals>();
  readonly #readers: LogReader[];

  private constructor(readers: LogReader[]) {
    this.#readers = readers;
  }

  /** Starts at the current end of the telemetry and robot-events topics. */
  static async open(brokers: readonly string[], robotIds: readonly string[]): Promise<EdgeArrivals> {
    const log = createKafkaLog({ brokers, clientId: 'e2e-edge-arrivals' });
    const admin = log.admin();
    const readers: LogReader[] = [];
    try {
      for (const topic of [KafkaTopics.telemetry, KafkaTopics.robotEvents]) {
        const ends: readonly Offset[] = await admin.endOffsets(topic);
        readers.push(
          log.reader({
            assignments: ends.map((offset, partition) => ({ topic, partition, offset })),
            maxWaitMs: 100,
          }),
        );
      }
    } finally {
      await admin.close();
    }
    const arrivals = new EdgeArrivals(readers);
    for (const robotId of robotIds) {
      arrivals.robots.set(robotId, {
        samples: new Map(),
        events: new Map(),
        maxSkewMs: 0,
        firstEventTime: Infinity,
        lastEventTime: -Infinity,
      });
    }
    return arrivals;
  }

  /** One round of reads of both topics; records of other robots (other tests) are skipped. */
  async poll(): Promise<void> {
    for (const reader of this.#readers) {
      for (const batch of await reader.poll()) {
        for (const record of batch.records) {
          if (record.value === null) continue;
          if (batch.topic === KafkaTopics.telemetry) {
            const decoded = decodeTelemetryBatch(record.value);
            const robot = this.robots.get(decoded.robotId);
            if (robot === undefined) continue;
            for (const s of decoded.samples) {
              const key = `${s.bootId}:${s.seq}`;
              robot.samples.set(key, (robot.samples.get(key) ?? 0) + 1);
              robot.maxSkewMs = Math.max(robot.maxSkewMs, Math.abs(record.timestamp - s.eventTime));
              robot.firstEventTime = Math.min(robot.firstEventTime, s.eventTime);
              robot.lastEventTime = Math.max(robot.lastEventTime, s.eventTime);
            }
          } else {
            const message = decodeMessage(record.value);
            if (message.kind !== 'robot_event') continue; // presence shares the topic
            const robot = this.robots.get(message.robotId);
            if (robot === undefined) continue;
            const key = `${message.bootId}:${message.seq}`;
            robot.events.set(key, (robot.events.get(key) ?? 0) + 1);
          }
        }
      }
    }
  }

  /** Distinct (boot, seq) of a robot, samples and events together (they share the seq space). */
  distinct(robotId: string): number {
    const r = this.robots.get(robotId);
    return (r?.samples.size ?? 0) + (r?.events.size ?? 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.#readers.map((r) => r.close()));
  }
}
