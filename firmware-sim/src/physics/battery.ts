/**
 * A 7S Li-ion pack with ground truth: charge, ageing, resistance, temperature, cycle counting.
 *
 * Electrical model (one RC-free equivalent circuit: an OCV source behind a series resistance R):
 * - Discharging, the robot draws a power P, so the current solves P = (OCV − I·R)·I, i.e.
 *   I = (OCV − √(OCV² − 4RP)) / 2R. The terminal voltage V = OCV − I·R sags under load, and an aged
 *   pack (higher R) sags more and draws more current for the same power. If 4RP > OCV² the pack
 *   cannot deliver P at all; it then delivers its maximum (I = OCV / 2R).
 * - On the dock the charger powers the robot and charges the pack: constant current (0.5 C) until
 *   the terminal voltage reaches 29.4 V (4.20 V per cell), then constant voltage, where the current
 *   I = (29.4 − OCV) / R tapers; below C/20 the charge terminates and the gauge calibrates to full.
 *
 * Cycle counting is the fuel gauge's (TI bq40z-style): the counter steps each time the charge put in
 * since the last step reaches 90 % of the present full-charge capacity. Ageing (ageing.ts) follows
 * full-cycle equivalents (charge in / nominal capacity) and time spent hot.
 *
 * Thermal model: one lumped mass (14 cells, ~0.66 kg, ~660 J/K) with a thermal resistance of 3 K/W
 * to the air inside the robot, heated by I²R and by a share of the motors' losses; time constant
 * ~33 min. Integrated exactly for a step with constant input, so any dt is stable.
 */
import { hotAgeingRate, internalResistanceOhm, stateOfHealth } from './ageing.js';
import { PACK_FULL_V, packOcv } from './ocv.js';

export interface BatteryParams {
  readonly nominalCapacityMah: number;
  /** Internal resistance of the new pack, Ω (7 cell groups of ~15 mΩ plus wiring and BMS FETs). */
  readonly r0Ohm: number;
  readonly heatCapacityJPerK: number;
  readonly thermalResistanceKPerW: number;
  /** Constant-current phase, A; 0.5 C by default. */
  readonly chargeCurrentA: number;
  /** Charge terminates when the CV current falls below this, A; C/20 by default. */
  readonly terminationCurrentA: number;
  /** Fraction of full-charge capacity charged in per counted cycle. */
  readonly cycleCountFraction: number;
}

export function batteryParams(nominalCapacityMah = 5200): BatteryParams {
  const c = nominalCapacityMah / 1000;
  return Object.freeze({
    nominalCapacityMah,
    r0Ohm: 0.15,
    heatCapacityJPerK: 660,
    thermalResistanceKPerW: 3,
    chargeCurrentA: 0.5 * c,
    terminationCurrentA: c / 20,
    cycleCountFraction: 0.9,
  });
}

export interface BatteryInit {
  /** State of charge, 0..1. */
  readonly soc: number;
  readonly fullCycleEquivalents: number;
  readonly hotAgeingHours: number;
  readonly cycleCount: number;
  readonly temperatureC: number;
}

export interface BatteryLoad {
  /** Electrical power the robot draws, W. Ignored on the charger: the dock powers the robot. */
  readonly loadW: number;
  /** Heat from motors and electronics that reaches the pack, W. */
  readonly heatW: number;
  readonly ambientC: number;
  /** On the dock's charging contacts. */
  readonly onCharger: boolean;
}

export type ChargePhase = 'off' | 'cc' | 'cv' | 'full';

/** Below this SoC a full pack on the dock starts charging again. */
export const RECHARGE_BELOW_SOC = 0.95;

export class Battery {
  /** Charge in the pack, mAh (0..capacityMah). */
  private chargeMah: number;
  private fce: number;
  private hotHours: number;
  private cycles: number;
  /** Charge put in since the cycle counter last stepped, mAh. */
  private sinceCountMah = 0;
  private sohValue: number;
  private tempC: number;
  private current = 0;
  private voltage: number;
  private chargePhase: ChargePhase = 'off';

  constructor(
    readonly params: BatteryParams,
    init: BatteryInit,
  ) {
    this.fce = init.fullCycleEquivalents;
    this.hotHours = init.hotAgeingHours;
    this.cycles = init.cycleCount;
    this.tempC = init.temperatureC;
    this.sohValue = stateOfHealth(this.fce, this.hotHours);
    this.chargeMah = clamp01(init.soc) * this.capacityMah;
    this.voltage = packOcv(this.soc);
  }

  /** State of charge, 0..1, of the present (aged) capacity. */
  get soc(): number {
    return this.chargeMah / this.capacityMah;
  }
  get soh(): number {
    return this.sohValue;
  }
  /** Full-charge capacity, mAh: nominal × SoH. */
  get capacityMah(): number {
    return this.params.nominalCapacityMah * this.sohValue;
  }
  get internalResistanceOhm(): number {
    return internalResistanceOhm(this.params.r0Ohm, this.sohValue);
  }
  get fullCycleEquivalents(): number {
    return this.fce;
  }
  get hotAgeingHours(): number {
    return this.hotHours;
  }
  get cycleCount(): number {
    return this.cycles;
  }
  get temperatureC(): number {
    return this.tempC;
  }
  /** Current of the last step, A; positive discharges, negative charges. */
  get currentA(): number {
    return this.current;
  }
  /** Terminal voltage of the last step, V. */
  get terminalVoltageV(): number {
    return this.voltage;
  }
  get phase(): ChargePhase {
    return this.chargePhase;
  }
  get empty(): boolean {
    return this.chargeMah <= 0;
  }

  step(dtMs: number, load: BatteryLoad): void {
    const hours = dtMs / 3_600_000;
    const r = this.internalResistanceOhm;
    const ocv = packOcv(this.soc);
    if (load.onCharger) this.charge(hours, ocv, r);
    else this.discharge(hours, ocv, r, load.loadW);
    this.heat(dtMs / 1000, load, r);
    this.age(hours);
  }

  private discharge(hours: number, ocv: number, r: number, loadW: number): void {
    this.chargePhase = 'off';
    if (this.chargeMah <= 0 || loadW <= 0) {
      this.current = 0;
      this.voltage = ocv;
      return;
    }
    const disc = ocv * ocv - 4 * r * loadW;
    const i = disc >= 0 ? (ocv - Math.sqrt(disc)) / (2 * r) : ocv / (2 * r);
    this.current = i;
    this.voltage = ocv - i * r;
    this.chargeMah = Math.max(0, this.chargeMah - i * hours * 1000);
  }

  private charge(hours: number, ocv: number, r: number): void {
    const p = this.params;
    if (this.chargePhase === 'full' && this.soc >= RECHARGE_BELOW_SOC) {
      this.current = 0;
      this.voltage = ocv;
      return;
    }
    if (this.chargePhase === 'off' || this.chargePhase === 'full') this.chargePhase = 'cc';
    let i = p.chargeCurrentA;
    if (this.chargePhase === 'cc' && ocv + i * r >= PACK_FULL_V) this.chargePhase = 'cv';
    if (this.chargePhase === 'cv') {
      i = Math.max(0, (PACK_FULL_V - ocv) / r);
      if (i < p.terminationCurrentA) {
        this.finishCharge(this.capacityMah - this.chargeMah);
        this.current = 0;
        this.voltage = packOcv(1);
        return;
      }
    }
    this.current = -i;
    this.voltage = ocv + i * r;
    const added = Math.min(i * hours * 1000, this.capacityMah - this.chargeMah);
    this.chargeMah += added;
    this.count(added);
  }

  /** Termination: the gauge calibrates the remaining charge to full. */
  private finishCharge(addedMah: number): void {
    this.chargeMah = this.capacityMah;
    this.count(Math.max(0, addedMah));
    this.chargePhase = 'full';
  }

  private count(addedMah: number): void {
    this.fce += addedMah / this.params.nominalCapacityMah;
    this.sinceCountMah += addedMah;
    const threshold = this.params.cycleCountFraction * this.capacityMah;
    if (this.sinceCountMah >= threshold) {
      this.cycles++;
      this.sinceCountMah -= threshold;
    }
  }

  private heat(seconds: number, load: BatteryLoad, r: number): void {
    const p = this.params;
    const watts = this.current * this.current * r + load.heatW;
    const steady = load.ambientC + watts * p.thermalResistanceKPerW;
    const tau = p.heatCapacityJPerK * p.thermalResistanceKPerW;
    this.tempC = steady + (this.tempC - steady) * Math.exp(-seconds / tau);
  }

  private age(hours: number): void {
    const rate = hotAgeingRate(this.tempC);
    if (rate > 0) this.hotHours += rate * hours;
    const soh = stateOfHealth(this.fce, this.hotHours);
    if (soh !== this.sohValue) {
      this.sohValue = soh;
      this.chargeMah = Math.min(this.chargeMah, this.capacityMah);
    }
  }
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
