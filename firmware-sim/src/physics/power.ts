/**
 * What the robot's loads draw from the pack, and how much of it ends up as heat in the pack.
 *
 * Loads (electrical power, W):
 * - electronics (MCU, Linux board, sensors, radio): 5 W whenever the robot is powered;
 * - drive motors: 3 W + 0.03 W per mm/s of ground speed (≈ 10.5 W at the cleaning speed), scaled
 *   by the floor: carpet and thresholds raise the torque the wheels need;
 * - side/main brush: 8 W, also scaled by the floor; suction fan: 30 W — the biggest load.
 * Cleaning thus draws ~55 W (~2.3 A at 25 V): a 5.2 Ah pack cleans for about two hours.
 *
 * The pack sits under the motors and the board: 8 % of the motor power and 20 % of the electronics'
 * power reach it as heat (the rest leaves through the chassis), enough for a pack at 22 °C ambient
 * to settle near 36 °C while cleaning, as robot vacuums do.
 */
const ELECTRONICS_W = 5;
const DRIVE_BASE_W = 3;
const DRIVE_W_PER_MM_S = 0.03;
const BRUSH_W = 8;
const SUCTION_W = 30;
const MOTOR_HEAT_SHARE = 0.08;
const ELECTRONICS_HEAT_SHARE = 0.2;

export interface Loads {
  /** Ground speed, mm/s. */
  readonly speedMmS: number;
  /** Brush and suction running. */
  readonly cleaning: boolean;
  /** Torque factor of the floor under the robot, ~1 (hard floor) .. 1.3 (carpet). */
  readonly floorFactor: number;
}

export interface PowerDemand {
  readonly loadW: number;
  readonly heatW: number;
}

export function powerDemand(loads: Loads): PowerDemand {
  const drive =
    loads.speedMmS > 0 ? (DRIVE_BASE_W + DRIVE_W_PER_MM_S * loads.speedMmS) * loads.floorFactor : 0;
  const brush = loads.cleaning ? BRUSH_W * loads.floorFactor + SUCTION_W : 0;
  const motors = drive + brush;
  return {
    loadW: ELECTRONICS_W + motors,
    heatW: MOTOR_HEAT_SHARE * motors + ELECTRONICS_HEAT_SHARE * ELECTRONICS_W,
  };
}

/** Power drawn with the motors off. */
export const IDLE_POWER: PowerDemand = powerDemand({ speedMmS: 0, cleaning: false, floorFactor: 1 });
