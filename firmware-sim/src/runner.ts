/**
 * Drives a fleet's simulated time from a wall clock.
 *
 * - `speed: k` (k > 0): simulated time runs k times as fast as the wall clock: one timer loop wakes
 *   every 20 ms or so (never more often than every 10 ms) and steps the fleet up to
 *   start + k · elapsed. If the CPU cannot keep up, the fleet falls behind and catches up in
 *   bigger batches; frames that a full transmit buffer cannot take are dropped by the link, as a
 *   firmware's TX ring would.
 * - `speed: 'max'`: as fast as the serial lines take the frames. The fleet steps without timers and
 *   waits whenever a line's transmit buffer is full, so the slowest reader sets the pace (a line
 *   nobody reads stops the run). Every 50 steps it yields to the event loop so commands get in.
 *
 * The wall clock is injected, so a test can run the timed loop on a fake clock.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Fleet } from './fleet.js';

export interface WallClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: WallClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
};

/** A transmit path that can be full. */
export interface Backpressure {
  readonly writable: boolean;
  /** Resolves once the line takes frames again. */
  drained(): Promise<void>;
}

export type Speed = number | 'max';

export interface RunOptions {
  readonly speed: Speed;
  /** Stop once the next step would pass this true time. */
  readonly endTime?: number;
  readonly signal?: AbortSignal;
  readonly clock?: WallClock;
  /** The lines `max` waits for. */
  readonly lines?: readonly Backpressure[];
}

const MIN_WAKE_MS = 10;
const MAX_WAKE_MS = 50;
const MAX_STEPS_BETWEEN_YIELDS = 50;

/** Runs until `endTime` or until `signal` aborts. */
export async function runFleet(fleet: Fleet, o: RunOptions): Promise<void> {
  fleet.start();
  if (o.speed === 'max') await runMax(fleet, o);
  else await runTimed(fleet, o.speed, o);
}

function ended(fleet: Fleet, o: RunOptions): boolean {
  return o.signal?.aborted === true || (o.endTime !== undefined && fleet.now + fleet.stepMs > o.endTime);
}

async function runTimed(fleet: Fleet, speed: number, o: RunOptions): Promise<void> {
  const clock = o.clock ?? systemClock;
  const wake = Math.min(MAX_WAKE_MS, Math.max(MIN_WAKE_MS, fleet.stepMs / speed));
  const wallStart = clock.now();
  const simStart = fleet.now;
  while (!ended(fleet, o)) {
    await clock.sleep(wake);
    const target = simStart + (clock.now() - wallStart) * speed;
    fleet.advanceTo(o.endTime === undefined ? target : Math.min(target, o.endTime));
  }
}

async function runMax(fleet: Fleet, o: RunOptions): Promise<void> {
  const lines = o.lines ?? [];
  let sinceYield = 0;
  while (!ended(fleet, o)) {
    fleet.step();
    if (lines.some((l) => !l.writable)) {
      await untilAborted(Promise.all(lines.map((l) => l.drained())), o.signal);
      sinceYield = 0;
    } else if (++sinceYield >= MAX_STEPS_BETWEEN_YIELDS) {
      await yieldToLoop();
      sinceYield = 0;
    }
  }
}

function untilAborted(p: Promise<unknown>, signal: AbortSignal | undefined): Promise<unknown> {
  if (signal === undefined) return p;
  return Promise.race([p, new Promise((done) => signal.addEventListener('abort', done, { once: true }))]);
}
