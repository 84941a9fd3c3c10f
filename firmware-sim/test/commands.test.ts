import { describe, expect, it } from 'vitest';
import type { InjectedFault } from '../src/robot/faults.js';
import { HOUR, MINUTE, START, testRobot } from './helpers.js';

describe('commands', () => {
  it('a command is accepted after the firmware latency and completed when done', () => {
    const r = testRobot({ ackLatency: { medianMs: 200, p99Ms: 201 } });
    r.command('c1', { type: 'go_to_zone', zoneId: 'hallway' });
    r.run(100);
    expect(r.capture.acks).toEqual([]);
    r.run(200);
    expect(r.capture.acksOf('c1')).toEqual(['accepted']);
    r.runUntil(() => r.capture.acksOf('c1').length === 2, HOUR);
    expect(r.capture.acksOf('c1')).toEqual(['accepted', 'completed']);
    const [record] = r.truth.ofType('command');
    expect(record).toMatchObject({ commandId: 'c1', outcome: 'completed', receivedAt: START });
    expect(record!.acks.map((a) => a.outcome)).toEqual(['accepted', 'completed']);
    expect(record!.acks[0]!.trueTime - START).toBeGreaterThanOrEqual(200);
  });

  it('a command past its deadline is rejected', () => {
    const r = testRobot();
    r.command('late', { type: 'start_cleaning' }, -1);
    r.run(2000);
    expect(r.capture.acksOf('late')).toEqual(['rejected']);
    expect(r.capture.acks[0]!.detail).toBe('deadline passed');
    expect(r.robot.controller.activity.kind).toBe('docked');
    expect(r.truth.ofType('command')[0]).toMatchObject({ outcome: 'rejected', detail: 'deadline passed' });
  });

  it('a command whose deadline passes while it waits in the firmware is rejected', () => {
    const r = testRobot({ ackLatency: { medianMs: 500, p99Ms: 501 } });
    r.command('tight', { type: 'go_to_dock' }, 100);
    r.run(2000);
    expect(r.capture.acksOf('tight')).toEqual(['rejected']);
  });

  it('go_to_zone with an unknown zone is rejected, naming the zone', () => {
    const r = testRobot();
    r.command('nowhere', { type: 'go_to_zone', zoneId: 'garage' });
    r.run(2000);
    expect(r.capture.acksOf('nowhere')).toEqual(['rejected']);
    expect(r.capture.acks[0]!.detail).toBe('unknown zone garage');
  });

  it('a new command interrupts the running one, which fails', () => {
    const r = testRobot({ battery: { soc: 0.9 } });
    r.command('clean', { type: 'start_cleaning' });
    r.run(MINUTE);
    r.command('home', { type: 'go_to_dock' });
    r.runUntil(() => r.capture.acksOf('home').includes('completed'), HOUR);
    expect(r.capture.acksOf('clean')).toEqual(['accepted', 'failed']);
    expect(r.capture.acks.find((a) => a.outcome === 'failed')!.detail).toBe('interrupted by go_to_dock home');
    expect(r.capture.acksOf('home')).toEqual(['accepted', 'completed']);
    expect(r.truth.ofType('command').map((c) => [c.commandId, c.outcome])).toEqual([
      ['clean', 'failed'],
      ['home', 'completed'],
    ]);
  });

  it('stop halts the robot where it is and completes at once', () => {
    const r = testRobot();
    r.command('go', { type: 'go_to_zone', zoneId: 'office' });
    r.run(10_000);
    r.command('halt', { type: 'stop' });
    r.run(2000);
    expect(r.capture.acksOf('halt')).toEqual(['accepted', 'completed']);
    expect(r.capture.acksOf('go')).toEqual(['accepted', 'failed']);
    const pose = { ...r.robot.controller.pose };
    r.run(10_000);
    expect(r.robot.controller.pose).toEqual(pose);
    expect(r.capture.samples.at(-1)).toMatchObject({ mode: 'idle', speedMmS: 0 });
  });

  it('a repeated command id is not executed twice; its last ack is sent again', () => {
    const r = testRobot();
    r.command('dup', { type: 'go_to_zone', zoneId: 'kitchen' });
    r.run(2000);
    r.command('dup', { type: 'go_to_zone', zoneId: 'kitchen' });
    r.run(20);
    expect(r.capture.acksOf('dup')).toEqual(['accepted', 'accepted']);
    r.runUntil(() => r.capture.acksOf('dup').includes('completed'), HOUR);
    expect(r.truth.ofType('command')).toHaveLength(1);
  });

  it('a robot refuses to drive off below 20 % charge', () => {
    const r = testRobot({ battery: { soc: 0.18 } });
    r.command('clean', { type: 'start_cleaning' });
    r.run(2000);
    expect(r.capture.acksOf('clean')).toEqual(['rejected']);
    expect(r.capture.acks[0]!.detail).toBe('battery too low');
  });

  it('on low battery the robot abandons its command, flags it and returns to the dock by itself', () => {
    const r = testRobot({ battery: { soc: 0.21 } });
    r.command('clean', { type: 'start_cleaning' });
    r.runUntil(() => r.capture.acksOf('clean').includes('failed'), 2 * HOUR);
    expect(r.capture.acksOf('clean')).toEqual(['accepted', 'failed']);
    expect(r.capture.acks.at(-1)!.detail).toBe('low battery');
    expect(r.capture.events.map((e) => e.body)).toContainEqual({
      type: 'fault_raised',
      code: 32,
      message: 'battery low',
    });
    r.run(200);
    expect(r.capture.samples.at(-1)!.errorFlags & 32).toBe(32);
    expect(r.capture.samples.at(-1)!.mode).toBe('docking');
    r.runUntil(() => r.robot.controller.activity.kind === 'docked', HOUR);
    expect(r.robot.controller.atDock).toBe(true);
  });

  it('slow_acks multiplies the latency; missing_acks swallows commands whole', () => {
    const slow: InjectedFault = { type: 'slow_acks', faultId: 'fault-0', start: 0, multiplier: 20 };
    const r = testRobot({ ackLatency: { medianMs: 100, p99Ms: 101 }, faults: [slow] });
    r.command('s', { type: 'stop' });
    r.run(1900);
    expect(r.capture.acks).toEqual([]);
    r.run(200);
    expect(r.capture.acksOf('s')).toEqual(['accepted', 'completed']);

    const missing: InjectedFault = { type: 'missing_acks', faultId: 'fault-0', start: 0, probability: 1 };
    const m = testRobot({ faults: [missing] });
    m.command('m', { type: 'go_to_zone', zoneId: 'kitchen' });
    m.run(MINUTE);
    expect(m.capture.acks).toEqual([]);
    expect(m.robot.controller.activity.kind).toBe('docked');
    expect(m.truth.ofType('command')[0]).toMatchObject({ commandId: 'm', outcome: 'ignored', acks: [] });
  });
});
