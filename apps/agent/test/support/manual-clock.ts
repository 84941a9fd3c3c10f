/**
 * A clock the test moves by hand. Timers fire in order of their due time as `advance` passes it;
 * `advanceAsync` also lets promises settle after each timer, for code that awaits between steps.
 */
import type { Clock, TimerHandle } from '../../src/clock/clock.js';

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly fn: () => void;
}

export class ManualClock implements Clock {
  private t: number;
  private order = 0;
  private readonly timers = new Map<TimerHandle, Timer>();

  constructor(start = Date.UTC(2025, 0, 1, 12, 0, 0)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = { timer: ++this.order };
    this.timers.set(handle, { at: this.t + Math.max(0, ms), order: this.order, fn });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle);
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Due time of the next timer, if any. */
  nextTimerAt(): number | undefined {
    return this.next()?.[1].at;
  }

  advance(ms: number): void {
    const target = this.t + ms;
    for (let n = this.next(); n !== undefined && n[1].at <= target; n = this.next()) {
      this.timers.delete(n[0]);
      this.t = n[1].at;
      n[1].fn();
    }
    this.t = target;
  }

  async advanceAsync(ms: number): Promise<void> {
    const target = this.t + ms;
    await settle();
    for (let n = this.next(); n !== undefined && n[1].at <= target; n = this.next()) {
      this.timers.delete(n[0]);
      this.t = n[1].at;
      n[1].fn();
      await settle();
    }
    this.t = target;
    await settle();
  }

  private next(): [TimerHandle, Timer] | undefined {
    let best: [TimerHandle, Timer] | undefined;
    for (const entry of this.timers) {
      const [, timer] = entry;
      if (
        best === undefined ||
        timer.at < best[1].at ||
        (timer.at === best[1].at && timer.order < best[1].order)
      )
        best = entry;
    }
    return best;
  }
}

/** Lets every pending promise chain run (a few macrotask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((done) => setImmediate(done));
}
