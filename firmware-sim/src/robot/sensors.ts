/**
 * The firmware's measurements: true physical values plus sensor noise, quantised to the units of
 * the sample frame, with stuck sensors applied.
 *
 * Noise (1 σ): pack voltage 8 mV, current 15 mA (a shunt amplifier), temperature 0.05 °C (an NTC
 * on the pack), dirt 1.5 units. Position, heading and speed come from odometry fused with the
 * map and are reported as driven. SoC and cycle count come from the fuel gauge as computed.
 *
 * A stuck sensor repeats the value it last reported before the fault, whatever happens; nothing in
 * the sample says so (that is for analytics to find).
 */
import type { RobotMode, SerialSampleFrame } from '@fleet/protocol';
import { headingCdeg } from '../physics/motion.js';
import type { Rng } from '../random.js';
import type { StuckSensor } from './faults.js';

export type Measured = Omit<SerialSampleFrame, 'type' | 'bootId' | 'seq' | 'robotTime'>;

export interface TrueReadings {
  readonly voltageV: number;
  /** Positive discharges. */
  readonly currentA: number;
  readonly soc: number;
  readonly temperatureC: number;
  readonly cycleCount: number;
  readonly xMm: number;
  readonly yMm: number;
  readonly headingRad: number;
  readonly speedMmS: number;
  readonly dirt: number;
  readonly mode: RobotMode;
  readonly errorFlags: number;
}

const FIELDS: Readonly<Record<StuckSensor, readonly (keyof Measured)[]>> = {
  voltage: ['voltageMv'],
  current: ['currentMa'],
  soc: ['socPermille'],
  batteryTemp: ['batteryTempDeciC'],
  cycleCount: ['cycleCount'],
  position: ['xMm', 'yMm'],
  heading: ['headingCdeg'],
  speed: ['speedMmS'],
  dirt: ['dirtLevel'],
};

export class Sensors {
  private last: Measured | undefined;
  /** Frozen fields per stuck sensor; null until the first measurement after the fault began. */
  private readonly stuck = new Map<StuckSensor, Partial<Measured> | null>();

  constructor(private readonly rng: Rng) {}

  measure(t: TrueReadings): Measured {
    const rng = this.rng;
    const m: Measured = {
      voltageMv: clamp(Math.round(t.voltageV * 1000 + 8 * rng.normal()), 0, 0xffff),
      currentMa: Math.round(t.currentA * 1000 + 15 * rng.normal()),
      socPermille: clamp(Math.round(t.soc * 1000), 0, 1000),
      batteryTempDeciC: clamp(Math.round((t.temperatureC + 0.05 * rng.normal()) * 10), -0x8000, 0x7fff),
      cycleCount: clamp(t.cycleCount, 0, 0xffff),
      xMm: Math.round(t.xMm),
      yMm: Math.round(t.yMm),
      headingCdeg: headingCdeg(t.headingRad),
      speedMmS: clamp(Math.round(t.speedMmS), -0x8000, 0x7fff),
      dirtLevel: clamp(Math.round(t.dirt + 1.5 * rng.normal()), 0, 255),
      mode: t.mode,
      errorFlags: t.errorFlags,
    };
    for (const [sensor, frozen] of this.stuck) {
      if (frozen === null) this.stuck.set(sensor, pick(this.last ?? m, FIELDS[sensor]));
    }
    for (const frozen of this.stuck.values()) if (frozen !== null) Object.assign(m, frozen);
    this.last = m;
    return m;
  }

  /** From now on `sensor` repeats the last value it reported. */
  freeze(sensor: StuckSensor): void {
    if (!this.stuck.has(sensor)) this.stuck.set(sensor, null);
  }

  release(sensor: StuckSensor): void {
    this.stuck.delete(sensor);
  }

  /** After a reboot: nothing reported yet this boot. Stuck sensors stay stuck (the fault is hardware). */
  reset(): void {
    this.last = undefined;
  }
}

function pick(m: Measured, keys: readonly (keyof Measured)[]): Partial<Measured> {
  const out: Partial<Measured> = {};
  for (const k of keys) Object.assign(out, { [k]: m[k] });
  return out;
}

function clamp(v: number, min: number, max: number): number {
  return v < min ? min : v > max ? max : v;
}
