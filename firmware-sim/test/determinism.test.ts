import { describe, expect, it } from 'vitest';
import { Fleet } from '../src/fleet.js';
import { MemoryGroundTruth } from '../src/ground-truth.js';
import type { InjectedFault } from '../src/robot/faults.js';
import { Capture, defaultSite, MINUTE, START } from './helpers.js';

const site = defaultSite();
const faults: InjectedFault[][] = [
  [
    { type: 'clock_drift', faultId: 'fault-0', start: 0, ppm: 80, offsetMs: 1200 },
    { type: 'brownout', faultId: 'fault-1', start: 7 * MINUTE, silentMs: 4000 },
  ],
  [{ type: 'slow_acks', faultId: 'fault-2', start: 0, multiplier: 3 }],
  [{ type: 'missing_acks', faultId: 'fault-3', start: 0, probability: 0.5 }],
];

/** A scripted run driven step by step, no wall clock: the same script at the same steps. */
function run(seed: string): { bytes: Buffer[]; truth: string } {
  const captures = [new Capture(), new Capture(), new Capture()];
  const truth = new MemoryGroundTruth();
  const fleet = new Fleet({
    seed,
    site,
    robotIds: ['robot-1', 'robot-2', 'robot-3'],
    startTime: START,
    sampleHz: 10,
    ackLatency: { medianMs: 40, p99Ms: 250 },
    faults,
    output: (i) => captures[i]!.output,
    groundTruth: truth,
  });
  fleet.start();
  fleet.advanceTo(START + MINUTE);
  const deadline = START + 2 * MINUTE;
  fleet.deliver(0, {
    type: 'command',
    commandId: 'a',
    action: { type: 'start_cleaning' },
    deadlineRobotTime: deadline,
  });
  fleet.deliver(1, {
    type: 'command',
    commandId: 'b',
    action: { type: 'go_to_zone', zoneId: 'kitchen' },
    deadlineRobotTime: deadline,
  });
  for (let i = 0; i < 6; i++) {
    fleet.deliver(2, {
      type: 'command',
      commandId: `c${i}`,
      action: { type: 'go_to_zone', zoneId: 'office' },
      deadlineRobotTime: deadline,
    });
  }
  fleet.advanceTo(START + 5 * MINUTE);
  fleet.deliver(1, {
    type: 'command',
    commandId: 'd',
    action: { type: 'stop' },
    deadlineRobotTime: START + 6 * MINUTE,
  });
  fleet.advanceTo(START + 15 * MINUTE);
  fleet.finish();
  return { bytes: captures.map((c) => Buffer.from(c.bytes())), truth: JSON.stringify(truth.records) };
}

describe('determinism', () => {
  it('the same seed and the same commands give byte-identical frames and ground truth', () => {
    const a = run('seed-42');
    const b = run('seed-42');
    expect(a.bytes.map((x) => x.length)).toEqual(b.bytes.map((x) => x.length));
    for (let i = 0; i < a.bytes.length; i++) expect(Buffer.compare(a.bytes[i]!, b.bytes[i]!)).toBe(0);
    expect(a.truth).toBe(b.truth);
    // Not trivially: 15 minutes of three robots at 10 Hz, with commands, acks and a reboot.
    expect(a.bytes[0]!.length).toBeGreaterThan(400_000);
  });

  it('another seed gives other frames', () => {
    const a = run('seed-42');
    const c = run('seed-43');
    expect(Buffer.compare(a.bytes[0]!, c.bytes[0]!)).not.toBe(0);
  });
});
