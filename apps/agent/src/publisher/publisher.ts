/**
 * Spool → MQTT. Everything the agent sends upstream is in the spool first; this reads it in order
 * and publishes it at QoS 1, and acknowledges spool records only when the PUBACK of the PUBLISH that
 * carried them arrived (design: nothing lost at the edge).
 *
 * - priority records (robot events, command acks): one message each, on `events` or `acks`;
 * - telemetry records: samples of one (robot, boot, site) run in spool order, as many as
 *   `maxSamples`, encoded into one batch record (`encodeTelemetryBatches`) on `telemetry`. A batch
 *   goes out when it is full, or when its oldest sample has waited `maxDelayMs` (samples that were
 *   in the spool before this process started are overdue at once).
 * - At most `maxInflight` publishes await their PUBACK at a time (one batch may add one or two more
 *   in the rare case its samples span more than an i32 of ms).
 * - A cursor per class remembers the last record sent on the current connection. When the
 *   connection is lost every unacknowledged record counts as unsent, and after the reconnect the
 *   cursors start again at the oldest record, so the backlog is resent in order. Duplicates that
 *   this may create are what QoS 1 allows; downstream removes them by (robot, boot, seq).
 * - A record that does not decode is poison: it is acknowledged (dropped), counted and reported,
 *   so it cannot block the spool.
 */
import {
  decodeMessage,
  encodeTelemetryBatches,
  peekTelemetryBatchHeader,
  type TelemetrySample,
} from '@fleet/protocol';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { emit } from '../diagnostics.js';
import { errorMessage } from '../errors.js';
import type { Spool, SpoolClass, SpoolRecord } from '../spool/spool.js';
import type { MqttLink } from './session.js';

export interface PublisherTopics {
  readonly telemetry: string;
  readonly events: string;
  readonly acks: string;
}

export interface PublisherOptions {
  readonly spool: Pick<Spool, 'peek' | 'ack' | 'stats'>;
  readonly link: MqttLink;
  readonly clock: Clock;
  readonly topics: PublisherTopics;
  readonly maxSamples: number;
  readonly maxDelayMs: number;
  readonly maxInflight: number;
  /** A publish failed on a connection that is still up: the caller drops that connection. */
  onPublishFailure(error: unknown): void;
}

interface Arrival {
  readonly id: bigint;
  readonly at: number;
}

export class Publisher {
  private generation = 0;
  private inflight = 0;
  private readonly cursor: Record<SpoolClass, bigint | undefined> = {
    telemetry: undefined,
    priority: undefined,
  };
  /** Ids whose `spool.ack` is under way: never resent meanwhile. */
  private readonly acking = new Set<bigint>();
  /** When telemetry records appended by this process arrived, oldest first. */
  private arrivals: Arrival[] = [];
  private timer: TimerHandle | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private pumping = false;
  private again = false;
  private draining = false;
  private stopped = false;
  private readonly counts = {
    batches: 0,
    samples: 0,
    priority: 0,
    acknowledgedRecords: 0,
    publishFailures: 0,
    poisonRecords: 0,
  };

  constructor(private readonly options: PublisherOptions) {}

  /** New records are in the spool (call after each append resolved). */
  appended(records: readonly SpoolRecord[]): void {
    const at = this.options.clock.now();
    for (const r of records) if (r.cls === 'telemetry') this.arrivals.push({ id: r.id, at });
    const cap = this.options.maxSamples * 8;
    // Older arrivals only ever say "overdue", which a missing arrival says as well.
    if (this.arrivals.length > 2 * cap) this.arrivals = this.arrivals.slice(-cap);
    this.kick();
  }

  /** A connection is up: start again at the oldest unacknowledged record. */
  connected(): void {
    this.restart();
    this.kick();
  }

  /** The connection is gone: whatever awaited a PUBACK on it counts as unsent. */
  disconnected(): void {
    this.restart();
  }

  kick(): void {
    void this.pump();
  }

  /**
   * Sends partial batches at once and waits until the spool is empty and nothing is in flight, or
   * until `timeoutMs` passed, or the connection is lost. True when everything was acknowledged.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.kick();
    const { clock, spool } = this.options;
    const deadline = clock.now() + timeoutMs;
    for (;;) {
      const s = spool.stats();
      if (this.inflight === 0 && s.records.telemetry + s.records.priority === 0) return true;
      if (!this.options.link.connected || clock.now() >= deadline) return false;
      await new Promise<void>((done) => clock.setTimeout(done, 20));
    }
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  stats() {
    return { ...this.counts, inflight: this.inflight, connected: this.options.link.connected };
  }

  private restart(): void {
    this.generation++;
    this.inflight = 0;
    this.cursor.telemetry = undefined;
    this.cursor.priority = undefined;
    this.clearTimer();
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        await this.fill();
      } while (this.again && !this.stopped);
    } catch (e) {
      emit('publisher', 'error', 'publisher_failed', { error: errorMessage(e) });
    } finally {
      this.pumping = false;
    }
  }

  /** Publishes until the in-flight window is full, or there is nothing (due) to send. */
  private async fill(): Promise<void> {
    const { link, maxInflight } = this.options;
    while (link.connected && !this.stopped && this.inflight < maxInflight) {
      const generation = this.generation;
      const sentPriority = await this.sendPriority(generation, maxInflight - this.inflight);
      if (generation !== this.generation) continue;
      if (this.inflight >= maxInflight) return;
      const sentTelemetry = await this.sendTelemetry(generation);
      if (generation !== this.generation) continue;
      if (!sentPriority && !sentTelemetry) return;
    }
  }

  private async sendPriority(generation: number, room: number): Promise<boolean> {
    const records = await this.peek('priority', room);
    if (generation !== this.generation || records.length === 0) return false;
    const poison: bigint[] = [];
    for (const r of records) {
      this.cursor.priority = r.id;
      let topic: string;
      try {
        const message = decodeMessage(r.payload);
        if (message.kind === 'robot_event') topic = this.options.topics.events;
        else if (message.kind === 'command_ack') topic = this.options.topics.acks;
        else throw new Error(`a ${message.kind} message has no place in the priority spool`);
      } catch (e) {
        poison.push(r.id);
        this.reportPoison(r, e);
        continue;
      }
      this.counts.priority++;
      this.send(topic, r.payload, [r.id], generation, 0);
    }
    if (poison.length > 0) void this.ackSpool(poison);
    return true;
  }

  private async sendTelemetry(generation: number): Promise<boolean> {
    const { maxSamples, clock } = this.options;
    const records = await this.peek('telemetry', maxSamples);
    const first = records[0];
    if (generation !== this.generation || first === undefined) return false;
    if (records.length < maxSamples && !this.draining) {
      const wait = this.waitBeforeSending(first.id, clock.now());
      if (wait > 0) {
        this.arm(wait);
        return false;
      }
    }
    // The first run of samples of one (robot, boot, site), in spool order, and any poison among them.
    const ids: bigint[] = [];
    const samples: TelemetrySample[] = [];
    const poison: bigint[] = [];
    let key: string | undefined;
    for (const r of records) {
      let sample: TelemetrySample;
      try {
        const m = decodeMessage(r.payload);
        if (m.kind !== 'telemetry')
          throw new Error(`a ${m.kind} message has no place in the telemetry spool`);
        sample = m;
      } catch (e) {
        poison.push(r.id);
        this.reportPoison(r, e);
        this.cursor.telemetry = r.id;
        continue;
      }
      const k = `${sample.robotId}\n${sample.bootId}\n${sample.siteId}`;
      if (key !== undefined && k !== key) break;
      key = k;
      ids.push(r.id);
      samples.push(sample);
      this.cursor.telemetry = r.id;
    }
    if (poison.length > 0) void this.ackSpool(poison);
    if (samples.length === 0) return true;
    let batches: Uint8Array[];
    try {
      batches = encodeTelemetryBatches(samples, { maxSamples });
    } catch (e) {
      // Samples decoded from the spool always encode; if not, they would block it forever.
      this.counts.poisonRecords += ids.length;
      emit('publisher', 'error', 'spool_batch_unencodable', { records: ids.length, error: errorMessage(e) });
      void this.ackSpool(ids);
      return true;
    }
    let at = 0;
    for (const batch of batches) {
      const count = peekTelemetryBatchHeader(batch).count;
      this.counts.batches++;
      this.counts.samples += count;
      this.send(this.options.topics.telemetry, batch, ids.slice(at, at + count), generation, count);
      at += count;
    }
    return true;
  }

  private async peek(cls: SpoolClass, max: number): Promise<SpoolRecord[]> {
    const after = this.cursor[cls];
    const records = await this.options.spool.peek(cls, max, after);
    return records.filter((r) => !this.acking.has(r.id));
  }

  private send(
    topic: string,
    payload: Uint8Array,
    ids: readonly bigint[],
    generation: number,
    samples: number,
  ): void {
    this.inflight++;
    this.options.link.publish(topic, payload, { qos: 1 }).then(
      async () => {
        if (generation !== this.generation) return; // its connection is gone; it will be sent again
        this.inflight--;
        emit('publisher', 'debug', 'published', { topic, records: ids.length, samples });
        await this.ackSpool(ids);
        this.kick();
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        this.inflight--;
        this.counts.publishFailures++;
        emit('publisher', 'warn', 'publish_failed', {
          topic,
          records: ids.length,
          error: errorMessage(error),
        });
        this.restart();
        this.options.onPublishFailure(error);
      },
    );
  }

  private async ackSpool(ids: readonly bigint[]): Promise<void> {
    for (const id of ids) this.acking.add(id);
    try {
      await this.options.spool.ack(ids);
      this.counts.acknowledgedRecords += ids.length;
    } catch (e) {
      emit('publisher', 'error', 'spool_ack_failed', { records: ids.length, error: errorMessage(e) });
    } finally {
      for (const id of ids) this.acking.delete(id);
    }
  }

  private reportPoison(record: SpoolRecord, error: unknown): void {
    this.counts.poisonRecords++;
    emit('publisher', 'error', 'spool_record_poison', {
      cls: record.cls,
      id: record.id.toString(),
      error: errorMessage(error),
    });
  }

  /** Ms until the partial batch starting at `firstId` is due; 0 when it is due now. */
  private waitBeforeSending(firstId: bigint, now: number): number {
    let i = 0;
    while (i < this.arrivals.length && (this.arrivals[i]?.id ?? firstId) < firstId) i++;
    if (i > 0) this.arrivals = this.arrivals.slice(i);
    const arrival = this.arrivals[0];
    if (arrival === undefined || arrival.id !== firstId) return 0;
    return Math.max(0, arrival.at + this.options.maxDelayMs - now);
  }

  private arm(waitMs: number): void {
    const due = this.options.clock.now() + waitMs;
    if (this.timer !== undefined && this.timerDue <= due) return;
    this.clearTimer();
    this.timerDue = due;
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Number.POSITIVE_INFINITY;
      this.kick();
    }, waitMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
  }
}
