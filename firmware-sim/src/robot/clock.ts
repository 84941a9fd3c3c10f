/**
 * The robot's own clock. A microcontroller's RTC runs off a 32.768 kHz crystal: typically within
 * ±20 ppm, more when hot or failing, and set once, so it can also start off by seconds. Injected
 * clock_drift faults make that explicit: from the fault's start the clock is off by `offsetMs` and
 * gains `ppm` µs per second of true time until the fault ends; the error then stays (nobody sets
 * the clock). The RTC is battery-backed, so a brown-out does not reset it.
 *
 * robotTime(t) = floor(t + Σ over drift faults started by t of offsetMs + ppm·10⁻⁶·(min(t, end) − start)).
 */
import type { InjectedFault } from './faults.js';

type Drift = Extract<InjectedFault, { type: 'clock_drift' }>;

export class RobotClock {
  private readonly drifts: readonly Drift[];

  constructor(
    faults: readonly InjectedFault[],
    private readonly startTime: number,
  ) {
    this.drifts = faults.filter((f): f is Drift => f.type === 'clock_drift');
  }

  /** robotTime − trueTime at true time `t`, ms (not rounded). */
  offsetMs(t: number): number {
    let offset = 0;
    for (const d of this.drifts) {
      const start = this.startTime + d.start;
      if (t < start) continue;
      const until = d.end === undefined ? t : Math.min(t, this.startTime + d.end);
      offset += d.offsetMs + d.ppm * 1e-6 * (until - start);
    }
    return offset;
  }

  /** What the robot's clock reads at true time `t`, whole ms. */
  robotTime(t: number): number {
    return this.drifts.length === 0 ? Math.floor(t) : Math.max(0, Math.floor(t + this.offsetMs(t)));
  }
}
