import type { SerialFrame } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import type { InjectedFault } from '../src/robot/faults.js';
import { faultsFor, faultsFileSchema, FaultTimeline } from '../src/robot/faults.js';
import type { Robot } from '../src/robot/robot.js';
import { HOUR, MINUTE, START, testRobot } from './helpers.js';

describe('brown-out', () => {
  const brownout: InjectedFault = { type: 'brownout', faultId: 'fault-0', start: 10_000, silentMs: 3000 };

  it('silences the robot, then it boots with a new boot id, reset reason brownout and seq from 0', () => {
    // Commands wait 2 s in the firmware: the first is still waiting when the supply collapses.
    const r = testRobot({ faults: [brownout], ackLatency: { medianMs: 2000, p99Ms: 2001 } });
    r.run(9_000);
    const oldBootId = r.robot.bootId;
    r.command('lost-in-flight', { type: 'go_to_zone', zoneId: 'kitchen' });
    r.run(1_000);
    const before = r.capture.frames.length;
    r.run(2_000);
    expect(r.capture.frames.length).toBe(before); // silent
    r.command('lost-on-arrival', { type: 'stop' });
    r.run(2_000);

    const after = r.capture.frames.slice(before);
    const boot = after[0]!;
    expect(boot).toMatchObject({ type: 'event', seq: 0, body: { type: 'boot', resetReason: 'brownout' } });
    const newBootId = r.robot.bootId;
    expect(newBootId).not.toBe(oldBootId);
    expect(after[1]).toMatchObject({ type: 'sample', seq: 1, bootId: newBootId });
    if (boot.type === 'event') expect(boot.robotTime - START).toBe(13_000);
    // The first boot's frames counted on to the brown-out.
    const firstBoot = r.capture.samples.filter((s) => s.bootId === oldBootId);
    expect(firstBoot.at(-1)!.seq).toBe(firstBoot.length);

    expect(r.truth.ofType('boot').map((b) => [b.resetReason, b.oldBootId, b.newBootId])).toEqual([
      ['power_on', null, oldBootId],
      ['brownout', oldBootId, newBootId],
    ]);
    expect(r.truth.ofType('fault_ended')[0]).toMatchObject({
      faultId: 'fault-0',
      start: START + 10_000,
      end: START + 13_000,
    });
    expect(r.capture.acks).toEqual([]);
    expect(r.truth.ofType('command').map((c) => [c.commandId, c.outcome])).toEqual([
      ['lost-in-flight', 'lost'],
      ['lost-on-arrival', 'lost'],
    ]);
  });
});

describe('clock drift', () => {
  it('makes robotTime diverge from true time by the configured ppm, after the initial offset', () => {
    const drift: InjectedFault = {
      type: 'clock_drift',
      faultId: 'fault-0',
      start: 0,
      ppm: 250,
      offsetMs: -1500,
    };
    const pairs: [number, number][] = [];
    const ref: { robot?: Robot } = {};
    const output = {
      send: (f: SerialFrame) => void (f.type === 'sample' && pairs.push([ref.robot!.now, f.robotTime])),
    };
    const r = testRobot({ faults: [drift], output });
    ref.robot = r.robot;
    r.run(2 * HOUR);
    const [t0, rt0] = pairs[0]!;
    const [t1, rt1] = pairs.at(-1)!;
    expect(rt0 - t0).toBeCloseTo(-1500, -1);
    // 250 ppm of two hours is 1.8 s.
    expect(rt1 - rt0 - (t1 - t0)).toBeCloseTo(250e-6 * (t1 - t0), -1);
    expect(Math.abs(rt1 - rt0 - (t1 - t0) - 1800)).toBeLessThanOrEqual(2);
    const last = r.robot.snapshot();
    expect(last.clockOffsetMs).toBeCloseTo(-1500 + 250e-6 * (last.trueTime - START), 2);
    expect(last.robotTime - last.trueTime).toBe(Math.floor(last.clockOffsetMs));
  });

  it('keeps the error it accumulated after the fault ends', () => {
    const drift: InjectedFault = {
      type: 'clock_drift',
      faultId: 'fault-0',
      start: 0,
      end: HOUR,
      ppm: -1000,
      offsetMs: 0,
    };
    const r = testRobot({ faults: [drift] });
    r.run(2 * HOUR, 1000);
    expect(r.robot.robotTime - r.robot.now).toBe(-3600);
  });
});

describe('sensor stuck', () => {
  it('freezes the sensor at its value and errorFlags do not say so', () => {
    const stuck: InjectedFault = {
      type: 'sensor_stuck',
      faultId: 'fault-0',
      start: MINUTE,
      sensor: 'batteryTemp',
      raiseFlag: false,
    };
    const r = testRobot({ faults: [stuck], battery: { soc: 0.9 } });
    r.command('clean', { type: 'start_cleaning' });
    r.run(MINUTE);
    const tempAtStart = r.robot.battery.temperatureC;
    r.run(29 * MINUTE);
    const later = r.capture.samples.filter((s) => s.robotTime > START + MINUTE + 100);
    const temps = new Set(later.map((s) => s.batteryTempDeciC));
    expect(temps.size).toBe(1);
    expect(later.every((s) => s.errorFlags === 0)).toBe(true);
    // Meanwhile the pack really warmed up.
    expect(r.robot.battery.temperatureC - tempAtStart).toBeGreaterThan(3);
  });

  it('raises the sensorStuck flag and a fault event when asked to, and clears them when it ends', () => {
    const stuck: InjectedFault = {
      type: 'sensor_stuck',
      faultId: 'fault-0',
      start: 10_000,
      end: 20_000,
      sensor: 'position',
      raiseFlag: true,
    };
    const r = testRobot({ faults: [stuck] });
    r.command('go', { type: 'go_to_zone', zoneId: 'office' });
    r.run(MINUTE);
    const during = r.capture.samples.filter(
      (s) => s.robotTime > START + 10_100 && s.robotTime < START + 20_000,
    );
    expect(during.every((s) => s.mode === 'moving')).toBe(true);
    expect(new Set(during.map((s) => `${s.xMm},${s.yMm}`)).size).toBe(1);
    expect(during.every((s) => (s.errorFlags & 64) === 64)).toBe(true);
    expect(r.capture.events.map((e) => e.body.type)).toEqual(['boot', 'fault_raised', 'fault_cleared']);
    const after = r.capture.samples.filter((s) => s.robotTime > START + 20_100);
    expect(new Set(after.map((s) => s.xMm)).size).toBeGreaterThan(1);
  });
});

describe('overheating', () => {
  it('raises the overheat flag and a fault event, stops the robot, and recovers once the pack cools', () => {
    const hot: InjectedFault = {
      type: 'overheat',
      faultId: 'fault-0',
      start: 0,
      end: 3 * HOUR,
      ambientRiseC: 45,
    };
    const r = testRobot({ faults: [hot], battery: { soc: 1 } });
    const took = r.runUntil(() => (r.robot.errorFlags & 16) !== 0, 3 * HOUR, 100);
    expect(took).toBeLessThan(3 * HOUR);
    r.run(1000);
    expect(r.capture.events.at(-1)!.body).toEqual({
      type: 'fault_raised',
      code: 16,
      message: 'battery over temperature',
    });
    expect(r.capture.samples.at(-1)!).toMatchObject({ mode: 'error', errorFlags: 16 });
    expect(r.capture.samples.at(-1)!.batteryTempDeciC).toBeGreaterThanOrEqual(600);
    r.command('clean', { type: 'start_cleaning' });
    r.run(2000);
    expect(r.capture.acks.at(-1)).toMatchObject({ outcome: 'rejected', detail: 'robot in error: overheat' });

    r.runUntil(() => (r.robot.errorFlags & 16) === 0, 6 * HOUR, 100);
    r.run(1000);
    expect(r.robot.now - START).toBeGreaterThan(3 * HOUR);
    expect(r.capture.events.at(-1)!.body).toEqual({ type: 'fault_cleared', code: 16 });
    expect(r.capture.samples.at(-1)!.mode).not.toBe('error');
    expect(r.truth.ofType('fault_ended')[0]).toMatchObject({ start: START, end: START + 3 * HOUR });
  });
});

describe('faults file', () => {
  it('applies each entry to the robots it names, by index as faultId, with durations in ms', () => {
    const file = faultsFileSchema.parse({
      faults: [
        { type: 'slow_acks', robots: ['robot-2'], start: '5m', end: '15m', multiplier: 8 },
        { type: 'brownout', robots: '*', start: '1h' },
        { type: 'clock_drift', robots: ['robot-1'], start: 0, ppm: 20 },
      ],
    });
    expect(faultsFor(file.faults, 'robot-1').map((f) => f.faultId)).toEqual(['fault-1', 'fault-2']);
    expect(faultsFor(file.faults, 'robot-2')).toEqual([
      { type: 'slow_acks', start: 300_000, end: 900_000, multiplier: 8, faultId: 'fault-0' },
      { type: 'brownout', start: 3_600_000, silentMs: 3000, faultId: 'fault-1' },
    ]);
    const timeline = new FaultTimeline(faultsFor(file.faults, 'robot-2'), START);
    expect(timeline.update(START + 299_999).started).toEqual([]);
    expect(timeline.update(START + 300_000).started.map((f) => f.type)).toEqual(['slow_acks']);
    expect(timeline.ackLatencyMultiplier()).toBe(8);
    expect(timeline.update(START + 900_000).ended.map((f) => f.type)).toEqual(['slow_acks']);
  });

  it('refuses an end before the start and unknown fields', () => {
    expect(
      faultsFileSchema.safeParse({ faults: [{ type: 'overheat', robots: '*', start: '10m', end: '5m' }] })
        .success,
    ).toBe(false);
    expect(
      faultsFileSchema.safeParse({ faults: [{ type: 'overheat', robots: '*', start: 0, colour: 'red' }] })
        .success,
    ).toBe(false);
    expect(
      faultsFileSchema.safeParse({ faults: [{ type: 'brownout', robots: '*', start: 0, end: 5 }] }).success,
    ).toBe(false);
  });
});
