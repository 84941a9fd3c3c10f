/**
 * Open-circuit voltage of a 7S Li-ion pack (NMC 18650 cells) as a function of state of charge.
 *
 * Per-cell rest voltages of a typical NMC cell at 25 °C: a steep knee below 10 % SoC, a flat middle
 * (~3.6–3.9 V) and a rise to 4.20 V at full. The pack is 7 cells in series, so 21.0 V empty and
 * 29.4 V full; the charger's constant-voltage setpoint is the full voltage (4.20 V per cell).
 * Linear interpolation between the points; SoC is clamped to [0, 1].
 */
export const CELLS_IN_SERIES = 7;
export const CELL_FULL_V = 4.2;
export const CELL_EMPTY_V = 3.0;
export const PACK_FULL_V = CELLS_IN_SERIES * CELL_FULL_V;
export const PACK_EMPTY_V = CELLS_IN_SERIES * CELL_EMPTY_V;

const SOC = [0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] as const;
const CELL_V = [3.0, 3.3, 3.45, 3.56, 3.63, 3.69, 3.75, 3.82, 3.9, 3.98, 4.07, 4.2] as const;

/** Pack open-circuit voltage in volts at state of charge `soc` (0..1). */
export function packOcv(soc: number): number {
  const s = soc <= 0 ? 0 : soc >= 1 ? 1 : soc;
  let i = 1;
  while (i < SOC.length - 1 && SOC[i]! < s) i++;
  const s0 = SOC[i - 1]!;
  const s1 = SOC[i]!;
  const v0 = CELL_V[i - 1]!;
  const v1 = CELL_V[i]!;
  return CELLS_IN_SERIES * (v0 + ((v1 - v0) * (s - s0)) / (s1 - s0));
}
