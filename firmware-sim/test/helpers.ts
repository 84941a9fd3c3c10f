/** Test drivers: robots on simulated time, their frames captured as values and as wire bytes. */
import { readFileSync } from 'node:fs';
import {
  encodeSerialFrame,
  type SerialAckFrame,
  type SerialCommandFrame,
  type SerialEventFrame,
  type SerialFrame,
  type SerialSampleFrame,
} from '@fleet/protocol';
import { MemoryGroundTruth } from '../src/ground-truth.js';
import { siteSchema, type Site } from '../src/physics/site.js';
import type { InjectedFault } from '../src/robot/faults.js';
import { Robot, type RobotOptions } from '../src/robot/robot.js';

export const START = Date.UTC(2025, 0, 6, 8, 0, 0);
export const STEP_MS = 20;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;

export function defaultSite(): Site {
  const text = readFileSync(new URL('../sites/default.json', import.meta.url), 'utf8');
  return siteSchema.parse(JSON.parse(text));
}

/** Captures a robot's frames, also sorted by type. */
export class Capture {
  readonly frames: SerialFrame[] = [];
  readonly samples: SerialSampleFrame[] = [];
  readonly events: SerialEventFrame[] = [];
  readonly acks: SerialAckFrame[] = [];
  readonly output = {
    send: (frame: SerialFrame) => {
      const f = structuredClone(frame);
      this.frames.push(f);
      if (f.type === 'sample') this.samples.push(f);
      else if (f.type === 'event') this.events.push(f);
      else if (f.type === 'ack') this.acks.push(f);
    },
  };

  acksOf(commandId: string): string[] {
    return this.acks.filter((a) => a.commandId === commandId).map((a) => a.outcome);
  }
  /** The frames as the serial line carries them. */
  bytes(): Uint8Array {
    return Buffer.concat(this.frames.map((f) => encodeSerialFrame(f, { leadingDelimiter: true })));
  }
}

export interface TestRobot {
  readonly robot: Robot;
  readonly capture: Capture;
  readonly truth: MemoryGroundTruth;
  readonly site: Site;
  /** Steps the robot for `ms` of simulated time. */
  run(ms: number, stepMs?: number): void;
  /** Steps until `done()` or `limitMs` passes; returns the simulated ms it took. */
  runUntil(done: () => boolean, limitMs: number, stepMs?: number): number;
  command(commandId: string, action: SerialCommandFrame['action'], deadlineInMs?: number): void;
}

export function testRobot(
  o: Partial<Omit<RobotOptions, 'faults'>> & { faults?: readonly InjectedFault[] } = {},
): TestRobot {
  const site = o.site ?? defaultSite();
  const capture = new Capture();
  const truth = new MemoryGroundTruth();
  const robot = new Robot({
    index: 0,
    robotId: 'robot-1',
    seed: 'test',
    site,
    startTime: START,
    sampleHz: 10,
    ackLatency: { medianMs: 40, p99Ms: 250 },
    faults: [],
    output: capture.output,
    groundTruth: truth,
    ...o,
  });
  robot.start();
  const run = (ms: number, stepMs = STEP_MS) => {
    for (let t = 0; t < ms; t += stepMs) robot.step(stepMs);
  };
  const runUntil = (done: () => boolean, limitMs: number, stepMs = STEP_MS) => {
    let t = 0;
    while (!done() && t < limitMs) {
      robot.step(stepMs);
      t += stepMs;
    }
    return t;
  };
  const command = (commandId: string, action: SerialCommandFrame['action'], deadlineInMs = 30_000) =>
    robot.receive({ type: 'command', commandId, action, deadlineRobotTime: robot.robotTime + deadlineInMs });
  return { robot, capture, truth, site, run, runUntil, command };
}
