/**
 * Spool → MQTT batching and acknowledgement, with an in-memory spool, a scripted link and a
 * simulated clock: batches by count and by delay, a bounded window of publishes in flight, spool
 * records acknowledged only on PUBACK, and the backlog resent in order after a reconnect.
 */
import { decodeTelemetryBatch, encodeMessage, type Message } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { Publisher } from '../src/publisher/publisher.js';
import type { MqttLink } from '../src/publisher/session.js';
import type { PublishOptions } from '../src/publisher/mqtt-client.js';
import type { FakePublish } from './support/fake-mqtt.js';
import { ManualClock, settle } from './support/manual-clock.js';
import { MemorySpool } from './support/memory-spool.js';
import { telemetrySample } from './support/samples.js';

const topics = {
  telemetry: 'fleet/v1/s-1/r-1/telemetry',
  events: 'fleet/v1/s-1/r-1/events',
  acks: 'fleet/v1/s-1/r-1/acks',
};

class FakeLink implements MqttLink {
  connected = true;
  readonly publishes: FakePublish[] = [];
  publish(topic: string, payload: Uint8Array, options: PublishOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.publishes.push({
        topic,
        payload,
        options,
        ack: () => resolve(),
        fail: (e) => reject(e ?? new Error('x')),
      });
    });
  }
}

function setup(options: { maxSamples?: number; maxDelayMs?: number; maxInflight?: number } = {}) {
  const clock = new ManualClock();
  const spool = new MemorySpool();
  const link = new FakeLink();
  const failures: unknown[] = [];
  const publisher = new Publisher({
    spool,
    link,
    clock,
    topics,
    maxSamples: options.maxSamples ?? 100,
    maxDelayMs: options.maxDelayMs ?? 1000,
    maxInflight: options.maxInflight ?? 4,
    onPublishFailure: (e) => failures.push(e),
  });
  let seq = 0;
  const append = async (n: number, bootId = 1): Promise<void> => {
    const payloads = Array.from({ length: n }, () =>
      encodeMessage(telemetrySample('r-1', 's-1', bootId, seq++, clock.now() + seq)),
    );
    publisher.appended(await spool.appendMany('telemetry', payloads));
    await settle();
  };
  const appendMessage = async (m: Message): Promise<void> => {
    publisher.appended(await spool.appendMany('priority', [encodeMessage(m)]));
    await settle();
  };
  return { clock, spool, link, publisher, append, appendMessage, failures, resetSeq: () => (seq = 0) };
}

const seqsOf = (p: FakePublish | undefined) =>
  decodeTelemetryBatch(p?.payload ?? new Uint8Array()).samples.map((s) => s.seq);

describe('Publisher batching (fake MQTT client, in-memory spool)', () => {
  it('sends a full batch at once, and a partial one only after maxDelayMs', async () => {
    const { clock, link, publisher, append } = setup({ maxSamples: 100, maxDelayMs: 1000 });
    publisher.connected();
    await append(250);
    expect(link.publishes.map((p) => seqsOf(p).length)).toEqual([100, 100]);
    await clock.advanceAsync(999);
    expect(link.publishes).toHaveLength(2);
    await clock.advanceAsync(1);
    expect(link.publishes.map((p) => seqsOf(p).length)).toEqual([100, 100, 50]);
    expect(link.publishes.every((p) => p.topic === topics.telemetry && p.options.qos === 1)).toBe(true);
  });

  it('times the delay from the oldest waiting sample, not the newest', async () => {
    const { clock, link, publisher, append } = setup({ maxSamples: 100, maxDelayMs: 1000 });
    publisher.connected();
    await append(1);
    await clock.advanceAsync(600);
    await append(1);
    await clock.advanceAsync(400);
    expect(link.publishes.map(seqsOf)).toEqual([[0, 1]]);
  });

  it('sends what was spooled before this process started at once (it is overdue)', async () => {
    const { spool, link, publisher } = setup({ maxSamples: 100, maxDelayMs: 60_000 });
    await spool.appendMany('telemetry', [encodeMessage(telemetrySample('r-1', 's-1', 1, 0, 1000))]);
    publisher.connected();
    await settle();
    expect(link.publishes.map(seqsOf)).toEqual([[0]]);
  });

  it('keeps the stored event time and fields of each sample (never re-stamped)', async () => {
    const { clock, link, publisher, spool } = setup({ maxSamples: 2 });
    const stored = [
      telemetrySample('r-1', 's-1', 9, 5, 1_700_000_000_123),
      telemetrySample('r-1', 's-1', 9, 6, 1_700_000_000_456),
    ];
    publisher.connected();
    publisher.appended(
      await spool.appendMany(
        'telemetry',
        stored.map((s) => encodeMessage(s)),
      ),
    );
    await clock.advanceAsync(0);
    expect(decodeTelemetryBatch(link.publishes[0]?.payload ?? new Uint8Array()).samples).toEqual(stored);
  });

  it('splits at a reboot: one batch record per boot, in spool order', async () => {
    const { clock, link, publisher, append, resetSeq } = setup({ maxSamples: 100 });
    publisher.connected();
    await append(3, 1);
    resetSeq();
    await append(2, 2);
    await clock.advanceAsync(1000);
    for (const p of link.publishes) p.ack();
    await settle();
    const batches = link.publishes.map((p) => decodeTelemetryBatch(p.payload));
    expect(batches.map((b) => [b.bootId, b.samples.map((s) => s.seq)])).toEqual([
      [1, [0, 1, 2]],
      [2, [0, 1]],
    ]);
  });
});

describe('Publisher acknowledgement and flow (fake MQTT client, in-memory spool)', () => {
  it('acks spool records only when their PUBACK arrives', async () => {
    const { spool, link, publisher, append } = setup({ maxSamples: 10 });
    publisher.connected();
    await append(10);
    expect(spool.stats().records.telemetry).toBe(10);
    expect(spool.ackCalls).toEqual([]);
    link.publishes[0]?.ack();
    await settle();
    expect(spool.ackCalls).toEqual([[1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]]);
    expect(spool.stats().records.telemetry).toBe(0);
  });

  it('keeps at most maxInflight publishes awaiting PUBACK', async () => {
    const { link, publisher, append } = setup({ maxSamples: 10, maxInflight: 2 });
    publisher.connected();
    await append(60);
    expect(link.publishes).toHaveLength(2);
    link.publishes[0]?.ack();
    await settle();
    expect(link.publishes).toHaveLength(3);
    expect(publisher.stats().inflight).toBe(2);
  });

  it('after a reconnect resends every unacknowledged record, oldest first', async () => {
    const { link, publisher, append, spool } = setup({ maxSamples: 10, maxInflight: 3 });
    publisher.connected();
    await append(50);
    expect(link.publishes.map((p) => seqsOf(p)[0])).toEqual([0, 10, 20]);
    link.publishes[0]?.ack();
    await settle(); // batch 30.. goes out
    link.connected = false;
    publisher.disconnected();
    link.publishes[1]?.ack(); // a PUBACK of the dead connection changes nothing
    await settle();
    expect(spool.stats().records.telemetry).toBe(40);
    link.connected = true;
    link.publishes.length = 0;
    publisher.connected();
    await settle();
    expect(link.publishes.map((p) => seqsOf(p)[0])).toEqual([10, 20, 30]);
    for (let i = 0; i < 10 && spool.stats().records.telemetry > 0; i++) {
      for (const p of link.publishes.splice(0)) p.ack();
      await settle();
    }
    expect(spool.stats().records.telemetry).toBe(0);
    expect(spool.ackCalls.flat()).toHaveLength(50);
    expect(new Set(spool.ackCalls.flat()).size).toBe(50);
  });

  it('on a publish failure drops the connection (the caller reconnects) and resends later', async () => {
    const { link, publisher, append, failures } = setup({ maxSamples: 10 });
    publisher.connected();
    await append(10);
    link.publishes[0]?.fail(new Error('Publish error: Not authorized'));
    await settle();
    expect(failures).toHaveLength(1);
    link.publishes.length = 0;
    publisher.connected();
    await settle();
    expect(link.publishes.map((p) => seqsOf(p)[0])).toEqual([0]);
  });

  it('publishes nothing while disconnected, and sends the backlog on connect', async () => {
    const { link, publisher, append, clock } = setup({ maxSamples: 10 });
    link.connected = false;
    await append(25);
    await clock.advanceAsync(5000);
    expect(link.publishes).toHaveLength(0);
    link.connected = true;
    publisher.connected();
    await settle();
    expect(link.publishes.map((p) => seqsOf(p).length)).toEqual([10, 10, 5]);
  });
});

describe('Publisher priority records (fake MQTT client, in-memory spool)', () => {
  it('publishes events and acks one by one on their channels, before waiting telemetry', async () => {
    const { link, publisher, append, appendMessage, clock } = setup({ maxSamples: 100 });
    publisher.connected();
    await append(3);
    await appendMessage({
      kind: 'robot_event',
      robotId: 'r-1',
      bootId: 1,
      seq: 3,
      eventTime: clock.now(),
      event: { type: 'fault_raised', code: 7 },
    });
    await appendMessage({
      kind: 'command_ack',
      commandId: 'c-1',
      robotId: 'r-1',
      outcome: 'timeout',
      source: 'agent',
      robotTime: clock.now(),
    });
    expect(link.publishes.map((p) => p.topic)).toEqual([topics.events, topics.acks]);
    await clock.advanceAsync(1000);
    expect(link.publishes.map((p) => p.topic)).toEqual([topics.events, topics.acks, topics.telemetry]);
  });

  it('drops (acks) a record that does not decode, counts it, and goes on', async () => {
    const { link, publisher, spool, append, clock } = setup({ maxSamples: 2 });
    publisher.connected();
    publisher.appended(await spool.appendMany('telemetry', [new Uint8Array([1, 2, 3])]));
    await append(2);
    await clock.advanceAsync(1000);
    expect(publisher.stats().poisonRecords).toBe(1);
    expect(spool.ackCalls[0]).toEqual([1n]);
    expect(link.publishes.flatMap(seqsOf)).toEqual([0, 1]);
  });
});

describe('Publisher drain on shutdown (fake MQTT client, in-memory spool)', () => {
  it('sends partial batches at once and resolves when everything is acknowledged', async () => {
    const { link, publisher, append, clock } = setup({ maxSamples: 100, maxDelayMs: 60_000 });
    publisher.connected();
    await append(5);
    const drained = publisher.drain(5000);
    await settle();
    expect(link.publishes).toHaveLength(1);
    link.publishes[0]?.ack();
    await clock.advanceAsync(100);
    await expect(drained).resolves.toBe(true);
  });

  it('gives up after its timeout', async () => {
    const { publisher, append, clock } = setup({ maxSamples: 100 });
    publisher.connected();
    await append(5);
    const drained = publisher.drain(1000);
    await clock.advanceAsync(1100);
    await expect(drained).resolves.toBe(false);
  });
});
