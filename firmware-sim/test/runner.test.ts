import { describe, expect, it } from 'vitest';
import { Fleet } from '../src/fleet.js';
import { discardGroundTruth } from '../src/ground-truth.js';
import { runFleet, type Backpressure, type WallClock } from '../src/runner.js';
import { Capture, defaultSite, MINUTE, START } from './helpers.js';

class FakeClock implements WallClock {
  t = 1000;
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    this.t += ms;
    return Promise.resolve();
  }
}

function fleet(capture = new Capture()): Fleet {
  return new Fleet({
    seed: 'runner',
    site: defaultSite(),
    robotIds: ['robot-1', 'robot-2'],
    startTime: START,
    sampleHz: 10,
    ackLatency: { medianMs: 40, p99Ms: 250 },
    output: () => capture.output,
    groundTruth: discardGroundTruth,
  });
}

describe('runner', () => {
  it('at speed 60 one wall-clock second is a simulated minute (on a fake clock)', async () => {
    const clock = new FakeClock();
    const f = fleet();
    await runFleet(f, { speed: 60, endTime: START + 10 * MINUTE, clock });
    expect(f.now).toBe(START + 10 * MINUTE);
    expect(clock.t - 1000).toBeGreaterThanOrEqual(10_000);
    expect(clock.t - 1000).toBeLessThanOrEqual(10_000 + 10);
  });

  it('at speed 1 it steps in real time', async () => {
    const clock = new FakeClock();
    const f = fleet();
    await runFleet(f, { speed: 1, endTime: START + 5000, clock });
    expect(clock.t - 1000).toBe(5000);
  });

  it('at speed max it waits whenever a line is full', async () => {
    let writable = true;
    let waits = 0;
    const line: Backpressure = {
      get writable() {
        return writable;
      },
      drained: () => {
        waits++;
        writable = true;
        return Promise.resolve();
      },
    };
    const capture = new Capture();
    const f = fleet(capture);
    let sent = 0;
    capture.output.send = (() => {
      if (++sent % 10 === 0) writable = false;
    }) as typeof capture.output.send;
    await runFleet(f, { speed: 'max', endTime: START + MINUTE, lines: [line] });
    expect(f.now).toBe(START + MINUTE);
    expect(waits).toBeGreaterThan(100);
  });

  it('stops when aborted', async () => {
    const stop = new AbortController();
    const f = fleet();
    setTimeout(() => stop.abort(), 50);
    await runFleet(f, { speed: 'max', signal: stop.signal });
    expect(f.now).toBeGreaterThan(START);
  });
});
