/**
 * Battery ageing: how state of health (SoH, the fraction of nominal capacity still available) and
 * internal resistance follow from what the pack has been through. Both are pure functions of two
 * accumulators, so SoH can only fall and the ground truth is exactly reproducible:
 *
 * - Full-cycle equivalents (FCE): charge put into the pack divided by its nominal capacity. Cycle
 *   fade grows sub-linearly, 20 % · (FCE / 1000)^0.8: about 3 % after 100 cycles, 17 % after 800,
 *   20 % after 1000 — the shape of NMC cycling data (fast early fade from SEI growth, then slower).
 * - Hot-ageing hours: time above 35 °C weighted by an Arrhenius factor,
 *   dH/dt = exp(Ea/R · (1/T_ref − 1/T)) − 1 with T_ref = 35 °C and Ea ≈ 50 kJ/mol (Ea/R = 6000 K),
 *   so the weight is 0 at 35 °C, ~0.85 at 45 °C, ~2.4 at 55 °C (side reactions roughly double every
 *   10 K). Each hot-ageing hour costs 0.05 % of capacity.
 *
 * Internal resistance grows as the pack fades: R = R0 · (1 + 5 · (1 − SoH)), i.e. it doubles when
 * SoH reaches 80 %, the usual end-of-life criterion.
 */
const CYCLE_FADE_AT_1000 = 0.2;
const CYCLE_FADE_EXPONENT = 0.8;
const HOT_FADE_PER_HOUR = 5e-4;
const MIN_SOH = 0.3;
export const HOT_AGEING_THRESHOLD_C = 35;
const ACTIVATION_K = 6000;
const KELVIN = 273.15;
const RESISTANCE_GROWTH = 5;

export function stateOfHealth(fullCycleEquivalents: number, hotAgeingHours: number): number {
  const cycleFade =
    CYCLE_FADE_AT_1000 * Math.pow(Math.max(0, fullCycleEquivalents) / 1000, CYCLE_FADE_EXPONENT);
  const hotFade = HOT_FADE_PER_HOUR * Math.max(0, hotAgeingHours);
  return Math.max(MIN_SOH, 1 - cycleFade - hotFade);
}

/** Weight of one hour at `temperatureC` in hot-ageing hours (0 at or below 35 °C). */
export function hotAgeingRate(temperatureC: number): number {
  if (temperatureC <= HOT_AGEING_THRESHOLD_C) return 0;
  const t = temperatureC + KELVIN;
  const ref = HOT_AGEING_THRESHOLD_C + KELVIN;
  return Math.exp(ACTIVATION_K * (1 / ref - 1 / t)) - 1;
}

export function internalResistanceOhm(r0Ohm: number, soh: number): number {
  return r0Ohm * (1 + RESISTANCE_GROWTH * (1 - soh));
}
