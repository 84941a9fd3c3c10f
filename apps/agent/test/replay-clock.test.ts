/**
 * Replayed frames and the robot clock, on simulated time. A replayed frame carries its original
 * robotTime but arrives now, so its apparent delay (receive time − robotTime) is its age. Fed to the
 * estimator as a clock reading it does harm, as the first cases show: the estimator's min-per-bucket
 * design protects a warm estimate from single late frames, not from a replay that comes before any
 * live reading, nor from a minute of old frames that looks like the robot's clock stepping back. The
 * agent's serial reader therefore marks replayed frames `delayed` (serial/resume.ts) and Ingest does
 * not observe them; it stamps them from the estimate of the live frames like any frame.
 */
import { decodeMessage, encodeSerialFrame, type SerialFrame } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { EventTimeStamper } from '../src/clock/event-time.js';
import { RobotClockEstimator } from '../src/clock/robot-clock.js';
import { Ingest } from '../src/ingest/ingest.js';
import { SerialReader } from '../src/serial/reader.js';
import type { SerialPosition } from '../src/serial/resume.js';
import { ManualClock } from './support/manual-clock.js';
import { seededRandom } from './support/random.js';
import { sampleFrame } from './support/samples.js';

const BOOT = 77;
const PERIOD_MS = 100;
/** A 48-byte frame at 115200 baud, 8N1. */
const LINE_MS = (50 * 10 * 1000) / 115_200;

interface Stamped {
  readonly seq: number;
  /** |eventTime − the agent-clock instant the robot measured|, ms. */
  readonly error: number;
}

/**
 * A robot whose clock is 3 minutes ahead and drifts +150 ppm, producing a sample every 100 ms, and
 * the agent's reader and ingest (with the agent's default clock estimator) on the other end of the
 * line. The gateway clock is the agent's (identity), so a perfect stamp is the measuring instant.
 */
function rig(o: { position?: SerialPosition; seed?: number } = {}) {
  const clock = new ManualClock();
  const T0 = clock.now();
  const random = seededRandom(o.seed ?? 1);
  const robotClock = (t: number) => Math.round(t + 180_000 + 150e-6 * (t - T0));
  /** When each seq was measured, agent clock. */
  const measuredAt = new Map<number, number>();
  const estimator = new RobotClockEstimator({ windowMs: 600_000, bucketMs: 5000 });
  const stamper = new EventTimeStamper(estimator, { toGatewayTime: (t) => t, toAgentTime: (t) => t });
  const stamped: Stamped[] = [];
  const ingest = new Ingest({
    robotId: 'r-1',
    siteId: 's-1',
    stamper,
    spool: {
      write: (_cls, payload) => {
        const m = decodeMessage(payload);
        if (m.kind !== 'telemetry') return;
        stamped.push({ seq: m.seq, error: Math.abs(m.eventTime - (measuredAt.get(m.seq) ?? NaN)) });
      },
    },
    onAck: () => undefined,
  });
  const reader = new SerialReader(
    {
      onFrame: (frame, receivedAt, delayed) => ingest.onFrame(frame, receivedAt, delayed),
      onReboot: (info) => ingest.onReboot(info),
      onCaughtUp: () => ingest.caughtUp(),
    },
    { clock, ...(o.position === undefined ? {} : { position: o.position }) },
  );
  const wire = (f: SerialFrame) => encodeSerialFrame(f, { leadingDelimiter: true });
  /** The firmware's frames so far, by seq. */
  const produced: SerialFrame[] = [];
  let nextSeq = 0;

  /** Produces `n` samples, one per period; those `delivered` reach the agent after the line delay. */
  function live(n: number, delivered = true): void {
    for (let i = 0; i < n; i++) {
      clock.advance(PERIOD_MS);
      const t = clock.now();
      const frame = sampleFrame(BOOT, nextSeq, robotClock(t));
      measuredAt.set(nextSeq, t);
      produced[nextSeq++] = frame;
      const jitter = -Math.log(1 - random()) * 2;
      if (delivered) reader.push(wire(frame), Math.round(t + LINE_MS + jitter));
    }
  }

  /** The line opens: the agent sends its resume; the firmware answers with a burst of old frames. */
  function reopenAndReplay(): void {
    const resume = reader.opened();
    const from = resume.position?.nextSeq ?? 0;
    let at = clock.now() + 10; // the firmware answers within a main-loop step
    for (let seq = from; seq < nextSeq; seq++) {
      const frame = produced[seq];
      if (frame === undefined) continue;
      at += LINE_MS;
      reader.push(wire(frame), Math.round(at));
    }
  }

  return { clock, estimator, reader, ingest, stamped, live, reopenAndReplay, produced };
}

const max = (xs: readonly number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

describe('replayed frames and the robot clock estimate', () => {
  it('observed as clock readings, a replay right after an agent restart gets event times seconds off', () => {
    // The counterfactual: frames of the last 60 s arrive in a burst before any live frame and are
    // taken as readings (no resume catch-up: the reader passes them as live).
    const r = rig();
    r.live(600, false); // produced while no agent was there
    let at = r.clock.now() + 10;
    for (const frame of r.produced) r.reader.push(encodeSerialFrame(frame), Math.round((at += LINE_MS)));
    r.live(100);
    expect(max(r.stamped.slice(0, 600).map((s) => s.error))).toBeGreaterThan(10_000);
  });

  it('observed as clock readings, a minute-long replay into a warm estimate looks like a clock step', () => {
    const r = rig();
    r.live(1200); // two minutes live: a good estimate with drift
    r.live(600, false); // the line was lost for a minute
    let at = r.clock.now() + 10;
    for (const frame of r.produced.slice(1200))
      r.reader.push(encodeSerialFrame(frame), Math.round((at += LINE_MS)));
    expect(r.estimator.steps).toBeGreaterThan(0); // the estimator threw away its estimate
  });

  it('after an agent restart, a replay of 60 s is stamped from the live frames to within a few ms', () => {
    const r = rig({ position: { bootId: BOOT, seq: 99 } });
    r.live(100, false); // what the first agent spooled: seq 0..99 (not delivered here)
    r.live(600, false); // the agent is down for a minute
    r.reopenAndReplay(); // the new agent asks from 100: seq 100..699 come in a burst
    r.live(50);
    r.clock.advance(1000);
    r.live(300);
    expect(r.stamped.map((s) => s.seq)).toEqual(Array.from({ length: 950 }, (_, i) => 100 + i));
    expect(r.ingest.stats().delayed).toBeGreaterThanOrEqual(599);
    expect(r.estimator.steps).toBe(0);
    // The line's smallest delay (the transmission time, ~4 ms) is the one bias nobody can see.
    expect(max(r.stamped.map((s) => s.error))).toBeLessThan(LINE_MS + 6);
  });

  it('when the line comes back after a minute, the replay neither steps nor bends the warm estimate', () => {
    const r = rig();
    r.reader.opened();
    r.live(1200); // two minutes live
    const before = r.estimator.estimate();
    r.live(600, false); // the line is lost for a minute
    r.reopenAndReplay();
    r.live(600);
    expect(r.stamped.map((s) => s.seq)).toEqual(Array.from({ length: 2400 }, (_, i) => i));
    expect(r.estimator.steps).toBe(0);
    expect(r.reader.stats().resume).toMatchObject({ duplicates: 0 });
    expect(r.ingest.stats().delayed).toBeGreaterThanOrEqual(599);
    expect(Math.abs((r.estimator.estimate()?.driftPpm ?? 0) - (before?.driftPpm ?? 0))).toBeLessThan(20);
    expect(max(r.stamped.map((s) => s.error))).toBeLessThan(LINE_MS + 6);
  });
});
