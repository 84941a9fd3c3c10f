/**
 * Robot clock → agent clock, with simulated time: the robot's clock is minutes off and drifts
 * 200 ppm; each frame reaches the agent after the UART transmission time plus jittery OS delay,
 * with occasional stalls of hundreds of ms. The corrected time must be within a few ms of the
 * instant the robot measured.
 */
import { describe, expect, it } from 'vitest';
import { RobotClockEstimator } from '../src/clock/robot-clock.js';
import { seededRandom } from './support/random.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
/** A 48-byte frame at 115200 baud, 8N1. */
const TRANSMISSION_MS = (48 * 10 * 1000) / 115_200;

interface Run {
  /** |corrected − true| per frame after the warm-up, ms. */
  readonly errors: number[];
  readonly estimator: RobotClockEstimator;
}

function simulate(options: {
  offsetMs: number;
  driftPpm: number;
  seconds: number;
  hz: number;
  warmupSeconds: number;
  seed: number;
  maxDriftPpm?: number;
}): Run {
  const random = seededRandom(options.seed);
  const estimator = new RobotClockEstimator({
    windowMs: 600_000,
    bucketMs: 5000,
    ...(options.maxDriftPpm === undefined ? {} : { maxDriftPpm: options.maxDriftPpm }),
  });
  const drift = options.driftPpm / 1e6;
  const robotClock = (t: number) => t + options.offsetMs + drift * (t - T0);
  const errors: number[] = [];
  const period = 1000 / options.hz;
  for (let i = 0; i < options.seconds * options.hz; i++) {
    const measuredAt = T0 + i * period; // true (agent clock) instant of the measurement
    const robotTime = Math.round(robotClock(measuredAt)); // the firmware's ms clock
    const stall = random() < 0.01 ? 100 + random() * 700 : 0;
    const jitter = -Math.log(1 - random()) * 3; // exponential, mean 3 ms
    const receivedAt = Math.round(measuredAt + TRANSMISSION_MS + jitter + stall);
    estimator.observe(robotTime, receivedAt);
    if (i * period >= options.warmupSeconds * 1000) {
      errors.push(Math.abs(estimator.toAgentTime(robotTime) - measuredAt));
    }
  }
  return { errors, estimator };
}

const max = (xs: readonly number[]) => xs.reduce((a, b) => Math.max(a, b), 0);
const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

describe('robot clock estimator (simulated clock)', () => {
  it('corrects a robot clock 3 minutes ahead and drifting +200 ppm to within a few ms, for 30 minutes at 10 Hz', () => {
    const run = simulate({
      offsetMs: 180_000,
      driftPpm: 200,
      seconds: 1800,
      hz: 10,
      warmupSeconds: 30,
      seed: 1,
    });
    // The remaining error is the link's smallest delay (the frame's transmission time, ~4 ms) plus
    // the rounding of both clocks to whole ms.
    expect(max(run.errors)).toBeLessThan(TRANSMISSION_MS + 3);
    expect(percentile(run.errors, 50)).toBeLessThan(TRANSMISSION_MS + 1.5);
    const estimate = run.estimator.estimate();
    expect(estimate?.driftPpm).toBeCloseTo(-200, -1); // agent − robot shrinks by 200 µs per s
    console.log(
      `robot clock +180 s, +200 ppm: |error| after 30 s p50 ${percentile(run.errors, 50).toFixed(2)} ms, ` +
        `p99 ${percentile(run.errors, 99).toFixed(2)} ms, max ${max(run.errors).toFixed(2)} ms; ` +
        `drift estimate ${estimate?.driftPpm.toFixed(1)} ppm`,
    );
  });

  it('does the same for a clock minutes behind drifting the other way', () => {
    const run = simulate({
      offsetMs: -7 * 60_000,
      driftPpm: -200,
      seconds: 900,
      hz: 10,
      warmupSeconds: 30,
      seed: 2,
    });
    expect(max(run.errors)).toBeLessThan(TRANSMISSION_MS + 3);
  });

  it('is within a few ms from the first seconds on (before the drift is known)', () => {
    const run = simulate({
      offsetMs: 180_000,
      driftPpm: 200,
      seconds: 30,
      hz: 10,
      warmupSeconds: 0,
      seed: 3,
    });
    // Before the first minimum is found the error is the first frame's delay; after one second it is small.
    expect(percentile(run.errors.slice(10), 99)).toBeLessThan(TRANSMISSION_MS + 6);
  });

  it('needs the drift: with drift estimation off the same run is tens of ms off', () => {
    const run = simulate({
      offsetMs: 180_000,
      driftPpm: 200,
      seconds: 1800,
      hz: 10,
      warmupSeconds: 30,
      seed: 1,
      maxDriftPpm: 0,
    });
    expect(max(run.errors)).toBeGreaterThan(30);
  });

  it('ignores stalls: a whole bucket of late frames does not pull the estimate', () => {
    const estimator = new RobotClockEstimator({ windowMs: 120_000, bucketMs: 1000 });
    const offset = 60_000;
    for (let t = 0; t < 60_000; t += 100) {
      const stalled = t >= 30_000 && t < 33_000; // 3 s of frames, each 400..700 ms late
      estimator.observe(T0 + t + offset, T0 + t + 2 + (stalled ? 400 + (t % 300) : 0));
    }
    expect(Math.abs(estimator.toAgentTime(T0 + 60_000 + offset) - (T0 + 60_000))).toBeLessThan(3);
  });

  it('rides out a 6 s stall of the agent: the burst of late frames is no clock step', () => {
    const estimator = new RobotClockEstimator({ windowMs: 600_000, bucketMs: 5000 });
    const offset = -90_000;
    const errors: number[] = [];
    for (let t = 0; t < 120_000; t += 100) {
      // From 60 s to 66 s the agent does not run; what was measured meanwhile arrives at 66 s.
      const receivedAt = t >= 60_000 && t < 66_000 ? T0 + 66_000 + (t - 60_000) / 100 : T0 + t + 2;
      expect(estimator.observe(T0 + t + offset, receivedAt)).toBe(false);
      errors.push(Math.abs(estimator.toAgentTime(T0 + t + offset) - (T0 + t)));
    }
    expect(estimator.steps).toBe(0);
    expect(max(errors.slice(50))).toBeLessThan(3);
  });

  it('restarts from a reading far below the estimate (the robot clock stepped forward)', () => {
    const estimator = new RobotClockEstimator({ windowMs: 60_000, bucketMs: 1000 });
    for (let t = 0; t < 10_000; t += 100) estimator.observe(T0 + t + 5000, T0 + t + 2);
    expect(estimator.observe(T0 + 10_000 + 3_600_000, T0 + 10_002)).toBe(true);
    expect(estimator.steps).toBe(1);
    expect(estimator.toAgentTime(T0 + 10_000 + 3_600_000)).toBe(T0 + 10_002);
  });

  it('restarts after a long run of readings far above the estimate (the robot clock stepped back)', () => {
    const estimator = new RobotClockEstimator({
      windowMs: 60_000,
      bucketMs: 1000,
      stepRun: 20,
      stepRunMs: 10_000,
    });
    for (let t = 0; t < 10_000; t += 100) estimator.observe(T0 + t, T0 + t + 2);
    let steppedAt: number | undefined;
    for (let t = 10_000; t < 25_000; t += 100) {
      if (estimator.observe(T0 + t - 60_000, T0 + t + 2)) steppedAt ??= t;
    }
    expect(steppedAt).toBe(20_000); // after 10 s of readings a minute too high
    expect(Math.abs(estimator.toAgentTime(T0 + 24_900 - 60_000) - (T0 + 24_900))).toBeLessThan(3);
  });

  it('maps agent time back to robot time (command deadlines) as the inverse', () => {
    const run = simulate({
      offsetMs: 180_000,
      driftPpm: 200,
      seconds: 120,
      hz: 10,
      warmupSeconds: 0,
      seed: 4,
    });
    const agentTime = T0 + 130_000;
    expect(run.estimator.toAgentTime(run.estimator.toRobotTime(agentTime))).toBeCloseTo(agentTime, 6);
  });

  it('is the identity before any observation, and after reset', () => {
    const estimator = new RobotClockEstimator({ windowMs: 60_000, bucketMs: 1000 });
    expect(estimator.ready).toBe(false);
    expect(estimator.toAgentTime(T0)).toBe(T0);
    estimator.observe(T0 + 1000, T0);
    expect(estimator.toAgentTime(T0 + 1000)).toBe(T0);
    estimator.reset();
    expect(estimator.toAgentTime(T0)).toBe(T0);
  });
});
