import { describe, expect, it } from 'vitest';
import { stateOfHealth } from '../src/physics/ageing.js';
import { Battery, batteryParams, type BatteryInit, type BatteryLoad } from '../src/physics/battery.js';
import { PACK_EMPTY_V, PACK_FULL_V, packOcv } from '../src/physics/ocv.js';

const fresh: BatteryInit = {
  soc: 0.8,
  fullCycleEquivalents: 0,
  hotAgeingHours: 0,
  cycleCount: 0,
  temperatureC: 25,
};
const rest: BatteryLoad = { loadW: 0, heatW: 0, ambientC: 25, onCharger: false };
const cleaningLoad: BatteryLoad = { loadW: 55, heatW: 4, ambientC: 25, onCharger: false };
const dock: BatteryLoad = { loadW: 0, heatW: 1, ambientC: 25, onCharger: true };
const SECOND = 1000;
const HOUR = 3_600_000;

function battery(init: Partial<BatteryInit> = {}): Battery {
  return new Battery(batteryParams(5200), { ...fresh, ...init });
}

function runFor(b: Battery, ms: number, load: BatteryLoad, stepMs = SECOND): void {
  for (let t = 0; t < ms; t += stepMs) b.step(stepMs, load);
}

describe('battery', () => {
  it('open-circuit voltage spans a 7S pack, 21.0 V empty to 29.4 V full, rising with charge', () => {
    expect(packOcv(0)).toBeCloseTo(PACK_EMPTY_V, 6);
    expect(packOcv(1)).toBeCloseTo(PACK_FULL_V, 6);
    expect(PACK_EMPTY_V).toBeCloseTo(21.0, 6);
    expect(PACK_FULL_V).toBeCloseTo(29.4, 6);
    for (let s = 0; s < 1; s += 0.01) expect(packOcv(s + 0.01)).toBeGreaterThan(packOcv(s));
  });

  it('a battery at 800 cycles has lower SoH, less capacity and more resistance than at 100', () => {
    const young = battery({ fullCycleEquivalents: 100, cycleCount: 100 });
    const old = battery({ fullCycleEquivalents: 800, cycleCount: 800 });
    expect(old.soh).toBeLessThan(young.soh);
    expect(old.capacityMah).toBeLessThan(young.capacityMah);
    expect(old.internalResistanceOhm).toBeGreaterThan(young.internalResistanceOhm);
    expect(young.soh).toBeGreaterThan(0.95);
    expect(old.soh).toBeLessThan(0.86);
  });

  it('cycling the pack counts cycles and lowers its SoH cycle after cycle', () => {
    const b = battery({ soc: 1 });
    const sohs = [b.soh];
    for (let cycle = 0; cycle < 5; cycle++) {
      while (b.soc > 0.1) runFor(b, 60 * SECOND, cleaningLoad, 10 * SECOND);
      while (b.phase !== 'full') runFor(b, 60 * SECOND, dock, 10 * SECOND);
      sohs.push(b.soh);
    }
    for (let i = 1; i < sohs.length; i++) expect(sohs[i]).toBeLessThan(sohs[i - 1]!);
    // Each recharge from 10 % puts in ~90 % of the capacity: one counted cycle each.
    expect(b.cycleCount).toBe(5);
    expect(b.fullCycleEquivalents).toBeGreaterThan(4);
    expect(b.fullCycleEquivalents).toBeLessThan(5);
  });

  it('terminal voltage sags under load by I·R, and the load draws I = P / V', () => {
    const b = battery({ soc: 0.6 });
    b.step(SECOND, rest);
    const idleV = b.terminalVoltageV;
    expect(idleV).toBeCloseTo(packOcv(b.soc), 2);
    b.step(SECOND, cleaningLoad);
    const i = b.currentA;
    expect(b.terminalVoltageV).toBeLessThan(idleV - 0.2);
    expect(b.terminalVoltageV).toBeCloseTo(packOcv(b.soc) - i * b.internalResistanceOhm, 2);
    expect(i * b.terminalVoltageV).toBeCloseTo(55, 3);
  });

  it('an aged pack sags more and draws more current for the same load', () => {
    const young = battery({ soc: 0.5 });
    const old = battery({ soc: 0.5, fullCycleEquivalents: 900, cycleCount: 900 });
    young.step(SECOND, cleaningLoad);
    old.step(SECOND, cleaningLoad);
    expect(old.terminalVoltageV).toBeLessThan(young.terminalVoltageV);
    expect(old.currentA).toBeGreaterThan(young.currentA);
  });

  it('charging at the dock goes constant-current then constant-voltage, reaches full and counts a cycle', () => {
    const b = battery({ soc: 0.05 });
    const phases: string[] = [];
    let minutes = 0;
    while (b.phase !== 'full' && minutes < 600) {
      runFor(b, 60 * SECOND, dock);
      if (phases[phases.length - 1] !== b.phase) phases.push(b.phase);
      if (b.phase === 'cc') expect(b.currentA).toBeCloseTo(-2.6, 6);
      minutes++;
    }
    expect(phases).toEqual(['cc', 'cv', 'full']);
    expect(b.soc).toBe(1);
    expect(b.cycleCount).toBe(1);
    // 95 % of 5.2 Ah at 2.6 A is ~1.9 h, plus the CV taper.
    expect(minutes).toBeGreaterThan(110);
    expect(minutes).toBeLessThan(200);
  });

  it('a full pack on the dock draws nothing and holds its charge', () => {
    const b = battery({ soc: 0.999 });
    runFor(b, HOUR, dock);
    expect(b.phase).toBe('full');
    expect(b.currentA).toBe(0);
    expect(b.soc).toBe(1);
  });

  it('time spent hot fades the pack faster than the same time spent cool', () => {
    const cool = battery();
    const hot = battery();
    runFor(cool, 100 * HOUR, { ...rest, ambientC: 25 }, 60 * SECOND);
    runFor(hot, 100 * HOUR, { ...rest, ambientC: 50 }, 60 * SECOND);
    expect(cool.hotAgeingHours).toBe(0);
    expect(cool.soh).toBe(stateOfHealth(0, 0));
    expect(hot.hotAgeingHours).toBeGreaterThan(100);
    expect(hot.soh).toBeLessThan(cool.soh - 0.05);
  });

  it('I²R and motor heat warm the pack under load; at rest it cools back to ambient', () => {
    const b = battery({ soc: 0.9 });
    runFor(b, HOUR, cleaningLoad);
    const warm = b.temperatureC;
    expect(warm).toBeGreaterThan(35);
    runFor(b, 4 * HOUR, rest);
    expect(b.temperatureC).toBeLessThan(warm);
    expect(b.temperatureC).toBeCloseTo(25, 0);
  });

  it('an empty pack delivers nothing', () => {
    const b = battery({ soc: 0.01 });
    runFor(b, HOUR, cleaningLoad);
    expect(b.empty).toBe(true);
    expect(b.soc).toBe(0);
    expect(b.currentA).toBe(0);
  });
});
