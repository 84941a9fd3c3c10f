/**
 * The agent's side of resume, on a clock the test moves: the resume frame it asks with, and the
 * gate that drops what it already has, puts a replay that raced live frames back in seq order, and
 * marks replayed frames as delayed (not clock readings).
 */
import type { SerialEventFrame } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { ResumeGate, type SequencedFrame, type SerialPosition } from '../src/serial/resume.js';
import { ManualClock } from './support/manual-clock.js';
import { sampleFrame } from './support/samples.js';

const BOOT = 0x5eed;
/** The robot's clock runs 42 s ahead of the agent's; frames take 4 ms on the line. */
const AHEAD = 42_000;
const LINE = 4;
const PERIOD = 100;

interface Out {
  readonly seq: number;
  readonly bootId: number;
  readonly delayed: boolean;
}

function rig(
  options: {
    position?: SerialPosition;
    holdMs?: number;
    maxQuietMs?: number;
    maxCatchUpMs?: number;
    maxHeld?: number;
  } = {},
) {
  const clock = new ManualClock();
  const out: Out[] = [];
  const gate = new ResumeGate({
    clock,
    lateToleranceMs: 50, // half the sample period, clear of the replay's 100 ms steps
    ...options,
    onFrame: (f, _receivedAt, delayed) => out.push({ seq: f.seq, bootId: f.bootId, delayed }),
  });
  /** Robot time of a frame arriving now that was produced `ago` ms before it went on the line. */
  const robotTime = (ago = 0) => clock.now() - LINE - ago + AHEAD;
  const arrive = (frame: SequencedFrame) => gate.push(frame, clock.now());
  const live = (seq: number, bootId = BOOT) => arrive(sampleFrame(bootId, seq, robotTime()));
  /** A burst of old frames (a replay), `count` frames from `from`, the last one produced just now. */
  const replay = (from: number, count: number, bootId = BOOT) => {
    for (let i = 0; i < count; i++)
      arrive(sampleFrame(bootId, from + i, robotTime((count - 1 - i) * PERIOD)));
  };
  /** `n` live frames one period apart, from `from`. */
  const liveRun = (from: number, n: number) => {
    for (let i = 0; i < n; i++) {
      clock.advance(PERIOD);
      live(from + i);
    }
  };
  return { clock, gate, out, live, replay, liveRun, robotTime, arrive };
}

const seqs = (out: readonly Out[]) => out.map((o) => o.seq);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('ResumeGate: the resume frame', () => {
  it('asks for everything when the agent has nothing, and from the next seq when it has a position', () => {
    expect(rig().gate.opened()).toEqual({ type: 'resume' });
    const { gate } = rig({ position: { bootId: BOOT, seq: 1233 } });
    expect(gate.opened()).toEqual({ type: 'resume', position: { bootId: BOOT, nextSeq: 1234 } });
  });

  it('asks from the last frame it let through when the line opens again', () => {
    const { gate, liveRun, clock } = rig({ position: { bootId: BOOT, seq: 9 } });
    gate.opened();
    liveRun(10, 5);
    clock.advance(1000);
    expect(gate.opened()).toEqual({ type: 'resume', position: { bootId: BOOT, nextSeq: 15 } });
  });
});

describe('ResumeGate: catching up after the line opened', () => {
  it('lets a replay from its position through in order, the replayed frames marked delayed, then goes live', () => {
    const { gate, out, replay, liveRun, clock } = rig({ position: { bootId: BOOT, seq: 99 } });
    gate.opened();
    clock.advance(5);
    replay(100, 50); // what the firmware sent while the agent was away: 5 s of samples
    liveRun(150, 3);
    // Held until holdMs after the last frame found delayed (149 came at 5 ms and showed 147 waited).
    clock.advance(199);
    expect(out).toEqual([]);
    clock.advance(1);
    expect(seqs(out)).toEqual(range(100, 53));
    // Every replayed frame but the last is seen to have waited; the live ones are clock readings.
    expect(out.filter((o) => o.delayed).map((o) => o.seq)).toEqual(range(100, 49));
    expect(gate.catchingUp).toBe(false);
    liveRun(153, 1); // live now: straight through
    expect(out.at(-1)).toEqual({ seq: 153, bootId: BOOT, delayed: false });
  });

  it('puts a replay that raced live frames back in seq order, dropping the live frames it repeats', () => {
    const { gate, out, replay, live, liveRun, clock } = rig({ position: { bootId: BOOT, seq: 99 } });
    gate.opened();
    // The firmware was producing when the agent opened the line: 150 and 151 arrive first, then
    // the resume reaches it and it replays 100..151, then goes on live.
    live(150);
    clock.advance(PERIOD);
    live(151);
    clock.advance(10);
    replay(100, 52);
    liveRun(152, 3);
    clock.advance(500);
    expect(seqs(out)).toEqual(range(100, 55));
    expect(gate.stats()).toMatchObject({ raced: 2, duplicates: 0 });
  });

  it('drops frames of a replay it already has, and counts them', () => {
    const { gate, out, replay, liveRun, clock } = rig({ position: { bootId: BOOT, seq: 99 } });
    gate.opened();
    replay(90, 20); // the firmware re-sends from further back than asked
    liveRun(110, 3);
    clock.advance(500);
    expect(seqs(out)).toEqual(range(100, 13));
    expect(gate.stats().duplicates).toBe(10);
  });

  it('after a reboot of the robot, takes the new boot from its first frame', () => {
    const { gate, out, replay, live, clock } = rig({ position: { bootId: BOOT, seq: 99 } });
    gate.opened();
    replay(0, 30, BOOT + 1);
    for (let i = 0; i < 3; i++) {
      clock.advance(PERIOD);
      live(30 + i, BOOT + 1);
    }
    clock.advance(500);
    expect(out.map((o) => `${o.bootId - BOOT}/${o.seq}`)).toEqual(range(0, 33).map((s) => `1/${s}`));
  });

  it('with firmware that does not know resume: holds the live frames holdMs, then lets them through in order', () => {
    const { gate, out, liveRun, clock } = rig({ position: { bootId: BOOT, seq: 99 } });
    gate.opened();
    liveRun(130, 3);
    expect(out).toEqual([]);
    clock.advance(500);
    expect(out).toEqual(range(130, 3).map((seq) => ({ seq, bootId: BOOT, delayed: false })));
    expect(gate.stats().delayed).toBe(0);
  });

  it('when nothing comes (the firmware is off), ends the catch-up after maxCatchUpMs; later frames go straight on', () => {
    const { gate, out, liveRun, clock } = rig({ maxCatchUpMs: 10_000 });
    gate.opened();
    clock.advance(9_999);
    expect(gate.catchingUp).toBe(true);
    clock.advance(1);
    expect(gate.catchingUp).toBe(false);
    liveRun(0, 2);
    expect(seqs(out)).toEqual([0, 1]);
  });

  it('at a slow sample rate waits 1.5 × the spacing for a live frame, but never longer than maxQuietMs', () => {
    const slow = (maxQuietMs?: number) => {
      const r = rig({ holdMs: 200, ...(maxQuietMs === undefined ? {} : { maxQuietMs }) });
      r.gate.opened();
      // Two frames of a robot that samples every 2 s, arriving together (the first from the ring).
      r.arrive(sampleFrame(BOOT, 0, r.robotTime(2000)));
      r.arrive(sampleFrame(BOOT, 1, r.robotTime()));
      return r;
    };
    const scaled = slow(); // default maxQuietMs 5000: 1.5 × 2000 ms
    scaled.clock.advance(2999);
    expect(scaled.out).toEqual([]);
    scaled.clock.advance(1);
    expect(seqs(scaled.out)).toEqual([0, 1]);
    const capped = slow(1000);
    capped.clock.advance(999);
    expect(capped.out).toEqual([]);
    capped.clock.advance(1);
    expect(seqs(capped.out)).toEqual([0, 1]);
  });

  it('waits for holdMs of quiet after the first frame, however late it comes', () => {
    const { gate, out, liveRun, clock } = rig();
    gate.opened();
    clock.advance(3_000);
    liveRun(0, 1);
    clock.advance(499);
    expect(out).toEqual([]);
    clock.advance(1);
    expect(seqs(out)).toEqual([0]);
  });

  it('a long replay keeps it catching up until the stream is live, up to maxCatchUpMs', () => {
    const { gate, out, clock, robotTime } = rig({ maxCatchUpMs: 30_000 });
    gate.opened();
    // A slow line: 2000 frames of the last 200 s, one every 4 ms.
    for (let i = 0; i < 2000; i++) {
      gate.push(sampleFrame(BOOT, i, robotTime((2000 - i) * PERIOD)), clock.now());
      clock.advance(4);
    }
    expect(out).toEqual([]);
    clock.advance(600);
    expect(seqs(out)).toEqual(range(0, 2000));
    // The newest frames are within the tolerance of the others (4 ms apart, 100 ms of robot time).
    expect(out.filter((o) => !o.delayed).every((o) => o.seq >= 1998)).toBe(true);
  });

  it('opening the line again during a catch-up lets what it held through first', () => {
    const { gate, out, liveRun, clock } = rig();
    gate.opened();
    liveRun(0, 3);
    expect(gate.opened()).toEqual({ type: 'resume', position: { bootId: BOOT, nextSeq: 3 } });
    expect(seqs(out)).toEqual([0, 1, 2]);
    clock.advance(1000);
  });

  it('lets everything through once maxHeld frames are held', () => {
    const { gate, out, replay } = rig({ maxHeld: 10 });
    gate.opened();
    replay(0, 10);
    expect(seqs(out)).toEqual(range(0, 10));
    expect(gate.catchingUp).toBe(false);
  });
});

describe('ResumeGate: live', () => {
  it('drops a frame it already has, but takes a boot event that restarts a boot id as a restart', () => {
    const { gate, out, arrive, robotTime } = rig();
    const boot: SerialEventFrame = {
      type: 'event',
      bootId: 7,
      seq: 0,
      robotTime: robotTime(),
      body: { type: 'boot', firmwareVersion: '1', resetReason: 'power_on' },
    };
    arrive(boot);
    arrive(sampleFrame(7, 1, robotTime()));
    arrive(sampleFrame(7, 1, robotTime()));
    arrive(boot);
    arrive(sampleFrame(7, 1, robotTime()));
    expect(out.map((o) => o.seq)).toEqual([0, 1, 0, 1]);
    expect(gate.stats().duplicates).toBe(1);
  });
});
