/**
 * Robot clock → agent clock.
 *
 * Each frame from the firmware carries `robotTime` (its own clock) and arrives at the agent at
 * `agentTime` (the agent's clock, taken when the bytes were read). For every observation
 *
 *   d = agentTime − robotTime = offset(robotTime) + delay,      delay ≥ 0
 *
 * where `offset` is the true difference of the two clocks (a line: an offset plus a drift, since a
 * crystal runs a few ppm to a few hundred ppm fast or slow) and `delay` is what the serial line and
 * the OS added (transmission, UART FIFO, scheduling; jittery, sometimes large, never negative).
 * So the least-delayed observations lie on the lower envelope of d, and that envelope is the line
 * we want. The estimator keeps, for each bucket of robot time in a sliding window, only the minimum
 * of d, fits a line through those minima by least squares, drops the minima that lie well above the
 * line (a bucket whose every frame was delayed, e.g. while the agent was paused) and fits again.
 * Until the minima span `minDriftSpanMs` no slope is fitted: the offset is the least d of the two
 * latest buckets (at 200 ppm that is off by at most 2 ms per 10 s of bucket).
 * The remaining bias is the smallest delay the link ever shows (the frame's transmission time), a
 * few ms at most; it cannot be seen from one side of a one-way link.
 *
 * A reading that lies far below the line cannot be delay: the robot's (or the agent's) clock has
 * stepped, and the estimator starts over from it. So does a run of readings far above it that
 * lasts longer than any plausible stall of the agent (10 s by default).
 */

export interface RobotClockOptions {
  /** Robot time span of the observations kept. */
  readonly windowMs: number;
  /** Width of a bucket; one minimum is kept per bucket. */
  readonly bucketMs: number;
  /** Drift estimates beyond this are clamped (a clock that bad is broken, or the fit is young). */
  readonly maxDriftPpm?: number;
  /** A reading this far below the estimate, or a run of readings this far above it, is a clock step. */
  readonly stepThresholdMs?: number;
  /**
   * A run of readings far above the estimate is a step only when it has at least `stepRun`
   * readings (default 20) AND spans `stepRunMs` of robot time (default 10 s): a process stall
   * delivers a burst of late frames that spans at most the stall, and must not count.
   */
  readonly stepRun?: number;
  readonly stepRunMs?: number;
  /**
   * Robot time the minima must span before a drift is fitted (default 60 s). Until then the
   * offset is the smallest d of the two most recent buckets: over so short a span a fitted slope
   * is mostly noise, and extrapolating it (to a command deadline) would multiply that noise.
   */
  readonly minDriftSpanMs?: number;
}

export interface RobotClockEstimate {
  /** agent time − robot time at `referenceRobotTime`, ms. */
  readonly offsetMs: number;
  /** How much faster the agent clock runs than the robot's, parts per million. */
  readonly driftPpm: number;
  readonly referenceRobotTime: number;
  /** Bucket minima the fit used. */
  readonly points: number;
}

interface Bucket {
  readonly key: number;
  /** Robot time of the least-delayed observation in the bucket. */
  x: number;
  /** Its d = agentTime − robotTime. */
  d: number;
}

export class RobotClockEstimator {
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly maxDrift: number;
  private readonly stepThresholdMs: number;
  private readonly stepRun: number;
  private readonly stepRunMs: number;
  private readonly minDriftSpanMs: number;
  private buckets: Bucket[] = [];
  private fit: RobotClockEstimate | undefined;
  private dirty = false;
  private highRun = 0;
  private highRunStart = 0;
  private stepCount = 0;

  constructor(options: RobotClockOptions) {
    this.windowMs = options.windowMs;
    this.bucketMs = options.bucketMs;
    this.maxDrift = (options.maxDriftPpm ?? 1000) / 1e6;
    this.stepThresholdMs = options.stepThresholdMs ?? 2000;
    this.stepRun = options.stepRun ?? 20;
    this.stepRunMs = options.stepRunMs ?? 10_000;
    this.minDriftSpanMs = options.minDriftSpanMs ?? 60_000;
  }

  /**
   * Records one frame: its robot time and the agent time at which its bytes were read.
   * Returns true when the reading revealed a clock step (the estimator restarted from it).
   */
  observe(robotTime: number, agentTime: number): boolean {
    const d = agentTime - robotTime;
    let stepped = false;
    if (this.buckets.length > 0) {
      const residual = d - (this.toAgentTime(robotTime) - robotTime);
      if (residual > this.stepThresholdMs) {
        if (this.highRun === 0) this.highRunStart = robotTime;
        this.highRun++;
      } else {
        this.highRun = 0;
      }
      const steppedBack = this.highRun >= this.stepRun && robotTime - this.highRunStart >= this.stepRunMs;
      if (residual < -this.stepThresholdMs || steppedBack) {
        this.reset();
        this.stepCount++;
        stepped = true;
      }
    }
    const key = Math.floor(robotTime / this.bucketMs);
    const last = this.buckets[this.buckets.length - 1];
    if (last !== undefined && key < last.key) {
      // An older bucket (frames out of order): merge into it if still in the window.
      const b = this.buckets.find((x) => x.key === key);
      if (b !== undefined && d < b.d) {
        b.x = robotTime;
        b.d = d;
        this.dirty = true;
      }
      return stepped;
    }
    if (last === undefined || key > last.key) {
      this.buckets.push({ key, x: robotTime, d });
      const oldest = key - Math.ceil(this.windowMs / this.bucketMs);
      while ((this.buckets[0]?.key ?? oldest) < oldest) this.buckets.shift();
      this.dirty = true;
    } else if (d < last.d) {
      last.x = robotTime;
      last.d = d;
      this.dirty = true;
    }
    return stepped;
  }

  /** Whether at least one observation was made since the start (or the last reset). */
  get ready(): boolean {
    return this.buckets.length > 0;
  }

  /** Clock steps detected so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** The robot time `robotTime` on the agent's clock (unchanged while not `ready`). */
  toAgentTime(robotTime: number): number {
    const f = this.estimate();
    if (f === undefined) return robotTime;
    return robotTime + f.offsetMs + (f.driftPpm / 1e6) * (robotTime - f.referenceRobotTime);
  }

  /** The inverse: the robot time at which the robot's clock reads what the agent's reads as `agentTime`. */
  toRobotTime(agentTime: number): number {
    const f = this.estimate();
    if (f === undefined) return agentTime;
    const b = f.driftPpm / 1e6;
    return (agentTime - f.offsetMs + b * f.referenceRobotTime) / (1 + b);
  }

  estimate(): RobotClockEstimate | undefined {
    if (this.dirty) {
      this.fit = this.refit();
      this.dirty = false;
    }
    return this.fit;
  }

  /** Forgets every observation (after a reboot the robot's clock may start anywhere). */
  reset(): void {
    this.buckets = [];
    this.fit = undefined;
    this.dirty = false;
    this.highRun = 0;
  }

  private refit(): RobotClockEstimate | undefined {
    const last = this.buckets[this.buckets.length - 1];
    const first = this.buckets[0];
    if (last === undefined || first === undefined) return undefined;
    if (last.x - first.x < this.minDriftSpanMs) {
      const recent = this.buckets.slice(-2).reduce((a, b) => (b.d < a.d ? b : a));
      return { offsetMs: recent.d, driftPpm: 0, referenceRobotTime: last.x, points: 1 };
    }
    let points = this.buckets.map((b) => ({ x: b.x, d: b.d }));
    let line = fitLine(points, last.x, this.maxDrift);
    // Lower envelope: drop minima well above the line (whole buckets of delayed frames), refit.
    for (let pass = 0; pass < 2 && points.length > 2; pass++) {
      const residuals = points.map((p) => p.d - line.at(p.x));
      const spread = median(residuals.map(Math.abs));
      const limit = Math.max(2, 3 * spread);
      const kept = points.filter((_, i) => (residuals[i] ?? 0) <= limit);
      if (kept.length === points.length || kept.length < 2) break;
      points = kept;
      line = fitLine(points, last.x, this.maxDrift);
    }
    return {
      offsetMs: line.at(last.x),
      driftPpm: line.slope * 1e6,
      referenceRobotTime: last.x,
      points: points.length,
    };
  }
}

interface Line {
  readonly slope: number;
  at(x: number): number;
}

/** Least squares d = a + slope·(x − ref), slope clamped; one point (or no spread in x) gives slope 0. */
function fitLine(points: readonly { x: number; d: number }[], ref: number, maxSlope: number): Line {
  const n = points.length;
  let sx = 0;
  let sd = 0;
  for (const p of points) {
    sx += p.x - ref;
    sd += p.d;
  }
  const mx = sx / n;
  const md = sd / n;
  let sxx = 0;
  let sxd = 0;
  for (const p of points) {
    const dx = p.x - ref - mx;
    sxx += dx * dx;
    sxd += dx * (p.d - md);
  }
  const raw = sxx > 0 ? sxd / sxx : 0;
  const slope = Math.max(-maxSlope, Math.min(maxSlope, raw));
  const intercept = md - slope * mx;
  return { slope, at: (x) => intercept + slope * (x - ref) };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}
