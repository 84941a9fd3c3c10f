/**
 * Frames → spool: each sample and event is stamped once with its corrected event time and spooled
 * in its class; a frame the cloud schema refuses is counted and dropped; the spool writer groups
 * appends, keeps order, and applies the spool's stated policies on failure.
 */
import { decodeMessage } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { EventTimeStamper } from '../src/clock/event-time.js';
import { RobotClockEstimator } from '../src/clock/robot-clock.js';
import { DurablePosition } from '../src/ingest/durable-position.js';
import { Ingest } from '../src/ingest/ingest.js';
import { SpoolWriter } from '../src/ingest/spool-writer.js';
import { Backoff } from '../src/retry.js';
import { SpoolError, type SpoolClass, type SpoolRecord } from '../src/spool/spool.js';
import { ManualClock, settle } from './support/manual-clock.js';
import { MemorySpool } from './support/memory-spool.js';
import { sampleFrame } from './support/samples.js';

function ingest(position?: DurablePosition) {
  const written: { cls: SpoolClass; payload: Uint8Array; settled?: () => void }[] = [];
  const robotClock = new RobotClockEstimator({ windowMs: 60_000, bucketMs: 1000 });
  const stamper = new EventTimeStamper(robotClock, {
    toGatewayTime: (t) => t + 1000,
    toAgentTime: (t) => t - 1000,
  });
  const acks: string[] = [];
  const ackSettles: (() => void)[] = [];
  const i = new Ingest({
    robotId: 'r-1',
    siteId: 's-1',
    stamper,
    spool: { write: (cls, payload, settled) => written.push({ cls, payload, settled }) },
    ...(position === undefined ? {} : { position }),
    onAck: (f, settled) => {
      acks.push(f.commandId);
      if (settled !== undefined) ackSettles.push(settled);
    },
  });
  return { i, written, acks, ackSettles, robotClock };
}

describe('Ingest (in-memory spool stands in for the file spool)', () => {
  it('stamps a sample with the robot time mapped to the gateway clock, and spools it as telemetry', () => {
    const { i, written } = ingest();
    i.onFrame(sampleFrame(4, 0, 1_700_000_060_000), 1_700_000_000_003); // robot 60 s ahead, 3 ms on the line
    const [entry] = written;
    expect(entry?.cls).toBe('telemetry');
    const m = decodeMessage(entry?.payload ?? new Uint8Array());
    expect(m).toMatchObject({
      kind: 'telemetry',
      robotId: 'r-1',
      siteId: 's-1',
      bootId: 4,
      seq: 0,
      eventTime: 1_700_000_001_003,
    });
  });

  it('spools events as priority, hands acks on, and restarts the robot clock estimate on reboot', () => {
    const { i, written, acks, robotClock } = ingest();
    i.onFrame(
      { type: 'event', bootId: 1, seq: 0, robotTime: 5000, body: { type: 'fault_cleared', code: 3 } },
      6000,
    );
    i.onFrame({ type: 'ack', commandId: 'c-1', outcome: 'accepted', robotTime: 5100 }, 6100);
    expect(written.map((w) => [w.cls, decodeMessage(w.payload).kind])).toEqual([['priority', 'robot_event']]);
    expect(acks).toEqual(['c-1']);
    expect(robotClock.ready).toBe(true);
    i.onReboot({ bootId: 2, previousBootId: 1, reason: 'boot_id_changed' });
    expect(robotClock.ready).toBe(false);
  });

  it('does not take a delayed (replayed) frame as a clock reading; with no reading yet it waits for the end of the catch-up', () => {
    const { i, written, robotClock } = ingest();
    // Replayed after an agent restart: produced 30 s and 20 s ago, received now.
    i.onFrame(sampleFrame(4, 10, 1_700_000_030_000), 1_700_000_000_000 + 60_000, true);
    i.onFrame(sampleFrame(4, 11, 1_700_000_040_000), 1_700_000_000_000 + 60_001, true);
    expect(written).toEqual([]);
    expect(robotClock.ready).toBe(false);
    i.onFrame(sampleFrame(4, 12, 1_700_000_060_000), 1_700_000_000_000 + 60_010); // live, 10 ms on the line
    i.onFrame(sampleFrame(4, 13, 1_700_000_060_100), 1_700_000_000_000 + 60_103); // live, 3 ms
    expect(written).toEqual([]); // behind the delayed ones
    i.caughtUp();
    const times = written
      .map((w) => decodeMessage(w.payload))
      .map((m) => [m.kind === 'telemetry' && m.seq, m.kind === 'telemetry' && m.eventTime]);
    // Stamped from the live reading (agent = robot + 3 ms), then + 1000 to the gateway: a replayed
    // frame taken as a reading would have made the robot's clock look 30 s behind.
    // The least delay of the live readings wins (3 ms), for every frame of the catch-up.
    expect(times).toEqual([
      [10, 1_700_000_031_003],
      [11, 1_700_000_041_003],
      [12, 1_700_000_061_003],
      [13, 1_700_000_061_103],
    ]);
    // With an estimate, a delayed frame is stamped at once.
    i.onFrame(sampleFrame(4, 14, 1_700_000_050_000), 1_700_000_000_000 + 60_200, true);
    expect(written).toHaveLength(5);
    expect(i.stats()).toMatchObject({ samples: 5, delayed: 3, waiting: 0 });
  });

  it('tracks each spooled frame in the durable position until the spool writer settles it', () => {
    const position = new DurablePosition(undefined, () => undefined);
    const { i, written } = ingest(position);
    i.onFrame(sampleFrame(4, 0, 1000), 1000);
    i.onFrame({ ...sampleFrame(4, 1, 1100), socPermille: 1001 }, 1100); // refused: settles at once
    i.onFrame(sampleFrame(4, 2, 1200), 1200);
    expect(position.position).toBeUndefined();
    written[0]?.settled?.();
    expect(position.position).toEqual({ bootId: 4, seq: 1 });
    written[1]?.settled?.();
    expect(position.position).toEqual({ bootId: 4, seq: 2 });
  });

  it('a replayed (delayed) ack waits with the replayed frames for a clock estimate; a live ack goes on at once', () => {
    const { i, written, acks } = ingest();
    i.onFrame(sampleFrame(4, 10, 1_700_000_030_000), 1_700_000_060_000, true);
    i.onFrame(
      { type: 'ack', commandId: 'replayed', outcome: 'completed', robotTime: 1_700_000_030_050 },
      1_700_000_060_001,
      true,
    );
    i.onFrame(sampleFrame(4, 11, 1_700_000_060_000), 1_700_000_060_010);
    i.onFrame(
      { type: 'ack', commandId: 'live', outcome: 'accepted', robotTime: 1_700_000_060_020 },
      1_700_000_060_030,
    );
    // The live ack answers a pending command now; the replayed one keeps its place among the frames.
    expect(acks).toEqual(['live']);
    expect(written).toEqual([]);
    i.caughtUp();
    expect(acks).toEqual(['live', 'replayed']);
    expect(written).toHaveLength(2);
    expect(i.stats()).toMatchObject({ acks: 2, delayed: 2, waiting: 0 });
  });

  it('the durable position does not pass an ack before it is spooled', () => {
    const position = new DurablePosition(undefined, () => undefined);
    const { i, written, ackSettles } = ingest(position);
    i.onFrame(sampleFrame(4, 0, 1000), 1000);
    i.onFrame({ type: 'ack', commandId: 'c', outcome: 'accepted', robotTime: 1050 }, 1050);
    i.onFrame(sampleFrame(4, 1, 1100), 1100);
    written[0]?.settled?.();
    written[1]?.settled?.();
    expect(position.position).toEqual({ bootId: 4, seq: 0 }); // the ack after seq 0 is not in yet
    ackSettles[0]?.();
    expect(position.position).toEqual({ bootId: 4, seq: 1 });
  });

  it('counts and drops a sample the cloud schema refuses', () => {
    const { i, written } = ingest();
    i.onFrame({ ...sampleFrame(1, 0, 1000), socPermille: 1001 }, 1000);
    expect(written).toEqual([]);
    expect(i.stats()).toMatchObject({ rejected: 1, samples: 0 });
  });
});

describe('SpoolWriter (in-memory spool stands in for the file spool)', () => {
  it('appends in order with group commit: what arrives during a write goes in the next', async () => {
    const spool = new MemorySpool();
    const calls: number[] = [];
    const appendMany = spool.appendMany.bind(spool);
    const appended: SpoolRecord[] = [];
    const w = new SpoolWriter({
      spool: {
        appendMany: async (cls, payloads) => {
          calls.push(payloads.length);
          await settle();
          return appendMany(cls, payloads);
        },
      },
      clock: new ManualClock(),
      backoff: new Backoff({ initialMs: 10, maxMs: 100, jitter: 0 }),
      onAppended: (r) => appended.push(...r),
      onFatal: () => undefined,
    });
    for (let n = 0; n < 5; n++) w.write('telemetry', Uint8Array.of(n));
    await w.flush();
    expect(calls).toEqual([1, 4]);
    expect(appended.map((r) => r.payload[0])).toEqual([0, 1, 2, 3, 4]);
  });

  it('drops telemetry the full spool refuses (counted), retries what is retriable, stops on the rest', async () => {
    const clock = new ManualClock();
    const outcomes: (Error | undefined)[] = [
      new SpoolError('SPOOL_FULL', 'full', false),
      new SpoolError('SPOOL_IO', 'EIO', true),
      undefined,
      new SpoolError('SPOOL_CORRUPT', 'bad segment', false),
    ];
    const spool = new MemorySpool();
    const fatal: unknown[] = [];
    const w = new SpoolWriter({
      spool: {
        appendMany: async (cls, payloads) => {
          const outcome = outcomes.shift();
          if (outcome !== undefined) throw outcome;
          return spool.appendMany(cls, payloads);
        },
      },
      clock,
      backoff: new Backoff({ initialMs: 10, maxMs: 100, jitter: 0 }),
      onAppended: () => undefined,
      onFatal: (e) => fatal.push(e),
    });
    w.write('telemetry', Uint8Array.of(1)); // refused: full
    await settle();
    w.write('telemetry', Uint8Array.of(2)); // EIO, then stored after the backoff
    await clock.advanceAsync(10);
    await w.flush();
    expect(spool.stats().records.telemetry).toBe(1);
    w.write('priority', Uint8Array.of(3)); // corrupt: fatal
    await w.flush();
    expect(fatal).toHaveLength(1);
    expect(w.stats()).toMatchObject({ droppedFull: 1, retries: 1, appended: 1 });
  });
});
