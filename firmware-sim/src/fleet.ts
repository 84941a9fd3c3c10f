/**
 * All robots of a run on one simulated clock. The fleet owns true time: `step()` advances every
 * robot by one physics step (the firmware's 50 Hz main loop, or the sample period if that is
 * shorter), so a process with hundreds of robots has one loop, not a timer per robot. Nothing here
 * reads a wall clock; runner.ts decides when to step.
 *
 * Determinism: given the same options (seed included), the same commands delivered between the
 * same steps give byte-identical frames.
 */
import type { GroundTruthSink } from './ground-truth.js';
import type { Site } from './physics/site.js';
import type { AckLatency } from './robot/commands.js';
import type { InjectedFault } from './robot/faults.js';
import {
  DEFAULT_FIRMWARE_VERSION,
  Robot,
  type AgentFrame,
  type FrameOutput,
  type RobotOptions,
} from './robot/robot.js';

/** The firmware's main loop period, ms. */
export const MAIN_LOOP_MS = 20;
export const DEFAULT_SNAPSHOT_EVERY_MS = 60_000;

export interface FleetOptions {
  readonly seed: string;
  readonly site: Site;
  readonly robotIds: readonly string[];
  /** True time of the first boot, ms since the epoch. */
  readonly startTime: number;
  readonly sampleHz: number;
  readonly ackLatency: AckLatency;
  /** Faults per robot, by index (missing: none). */
  readonly faults?: readonly (readonly InjectedFault[])[];
  readonly output: (index: number) => FrameOutput;
  readonly groundTruth: GroundTruthSink;
  readonly snapshotEveryMs?: number;
  readonly firmwareVersion?: string;
  readonly autoCleanEveryMs?: number;
  readonly agentDevice?: (index: number) => string | undefined;
  /** Per-robot option overrides (tests). */
  readonly robot?: (index: number) => Partial<RobotOptions>;
}

export class Fleet {
  readonly robots: readonly Robot[];
  readonly stepMs: number;
  private time: number;
  private nextSnapshot: number;
  private readonly snapshotEveryMs: number;
  private started = false;

  constructor(private readonly o: FleetOptions) {
    this.time = o.startTime;
    this.stepMs = Math.max(1, Math.min(MAIN_LOOP_MS, Math.floor(1000 / o.sampleHz)));
    this.snapshotEveryMs = o.snapshotEveryMs ?? DEFAULT_SNAPSHOT_EVERY_MS;
    this.nextSnapshot = o.startTime;
    this.robots = o.robotIds.map(
      (robotId, index) =>
        new Robot({
          index,
          robotId,
          seed: o.seed,
          site: o.site,
          startTime: o.startTime,
          sampleHz: o.sampleHz,
          ackLatency: o.ackLatency,
          faults: o.faults?.[index] ?? [],
          output: o.output(index),
          groundTruth: o.groundTruth,
          firmwareVersion: o.firmwareVersion ?? DEFAULT_FIRMWARE_VERSION,
          ...(o.autoCleanEveryMs === undefined ? {} : { autoCleanEveryMs: o.autoCleanEveryMs }),
          ...optional('agentDevice', o.agentDevice?.(index)),
          ...o.robot?.(index),
        }),
    );
  }

  /** True time, ms since the epoch. */
  get now(): number {
    return this.time;
  }

  /** Powers every robot on (boot events) and writes the run header. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const o = this.o;
    o.groundTruth.write({
      type: 'run',
      schemaVersion: 1,
      seed: o.seed,
      startTime: o.startTime,
      sampleHz: o.sampleHz,
      stepMs: this.stepMs,
      siteId: o.site.siteId,
      firmwareVersion: o.firmwareVersion ?? DEFAULT_FIRMWARE_VERSION,
      robotIds: o.robotIds,
    });
    for (const r of this.robots) r.start();
    this.snapshot();
  }

  /** A frame from robot `index`'s agent (command or resume), arriving at the present simulated time. */
  deliver(index: number, frame: AgentFrame): void {
    this.robots[index]?.receive(frame);
  }

  /** One physics step for every robot. */
  step(): void {
    this.start();
    this.time += this.stepMs;
    for (const r of this.robots) r.step(this.stepMs);
    if (this.time >= this.nextSnapshot) this.snapshot();
  }

  /** Steps until the next step would pass `t`; returns the number of steps taken. */
  advanceTo(t: number): number {
    let n = 0;
    while (this.time + this.stepMs <= t) {
      this.step();
      n++;
    }
    return n;
  }

  /** Closes the ground truth of the run (open commands and faults, counters). */
  finish(): void {
    for (const r of this.robots) r.finish();
    this.o.groundTruth.write({
      type: 'run_end',
      trueTime: this.time,
      robots: this.robots.map((r) => ({ robotId: r.robotId, ...r.counters })),
    });
  }

  private snapshot(): void {
    for (const r of this.robots) this.o.groundTruth.write(r.snapshot());
    this.nextSnapshot += this.snapshotEveryMs;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
