/**
 * Injected faults: what a faults file (`--faults FILE`) may ask of which robots, and when.
 *
 * File format (JSON):
 *   { "faults": [
 *       { "type": "slow_acks", "robots": ["robot-2"], "start": "5m", "end": "15m", "multiplier": 8 },
 *       { "type": "brownout", "robots": "*", "start": "20m", "silentMs": 4000 },
 *       { "type": "clock_drift", "robots": ["robot-1"], "start": 0, "ppm": 150, "offsetMs": -2500 } ] }
 *
 * `start` and `end` are simulated time since the run started: a duration string (`90s`, `10m`) or a
 * number of ms; `end` is optional (active to the end of the run). `robots` lists robot ids, or `"*"`
 * for every robot. Each entry's index in the list is its `faultId` in the ground truth.
 *
 * Types and their effect on the firmware:
 * - slow_acks     ack latencies × `multiplier`.
 * - missing_acks  each command received is, with `probability`, never executed nor answered.
 * - sensor_stuck  `sensor` keeps reporting the value it had when the fault started; errorFlags do
 *                 not say so unless `raiseFlag` (then `sensorStuck` and a fault_raised event).
 * - overheat      the air around the pack is `ambientRiseC` warmer (a blocked vent, a hot room); the
 *                 pack heats with its thermal time constant until the firmware sees ≥ 60 °C.
 * - brownout      at `start` the supply collapses: the robot falls silent for `silentMs`, then boots
 *                 with a new boot id, seq from 0 and reset reason `brownout`. No `end`.
 * - clock_drift   from `start` the robot's clock is off by `offsetMs` and runs `ppm` fast
 *                 (negative: slow) until `end`, after which the error it accumulated stays.
 */
import { robotIdSchema } from '@fleet/protocol';
import { z } from 'zod';
import { DURATION_HINT, parseDuration } from '../duration.js';

export const STUCK_SENSORS = [
  'voltage',
  'current',
  'soc',
  'batteryTemp',
  'cycleCount',
  'position',
  'heading',
  'speed',
  'dirt',
] as const;
export type StuckSensor = (typeof STUCK_SENSORS)[number];

const MAX_MS = 10 * 365 * 86_400_000;
const offsetSchema = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : parseDuration(value);
  if (ms === undefined || !Number.isInteger(ms) || ms < 0 || ms > MAX_MS) {
    ctx.addIssue({ code: 'custom', message: `must be ${DURATION_HINT}, or a whole number of ms` });
    return z.NEVER;
  }
  return ms;
});

const common = {
  robots: z.union([z.literal('*'), z.array(robotIdSchema).min(1)]),
  start: offsetSchema,
};
const ending = { ...common, end: offsetSchema.optional() };

export const faultEntrySchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('slow_acks'), ...ending, multiplier: z.number().min(1).max(10_000) }),
    z.strictObject({ type: z.literal('missing_acks'), ...ending, probability: z.number().min(0).max(1) }),
    z.strictObject({
      type: z.literal('sensor_stuck'),
      ...ending,
      sensor: z.enum(STUCK_SENSORS),
      raiseFlag: z.boolean().default(false),
    }),
    z.strictObject({
      type: z.literal('overheat'),
      ...ending,
      ambientRiseC: z.number().min(0).max(100).default(45),
    }),
    z.strictObject({ type: z.literal('brownout'), ...common, silentMs: offsetSchema.default(3000) }),
    z.strictObject({
      type: z.literal('clock_drift'),
      ...ending,
      ppm: z.number().min(-100_000).max(100_000),
      offsetMs: z.int().min(-86_400_000).max(86_400_000).default(0),
    }),
  ])
  .refine((f) => !('end' in f) || f.end === undefined || f.end > f.start, {
    message: 'end must be after start',
    path: ['end'],
  });

export const faultsFileSchema = z.strictObject({ faults: z.array(faultEntrySchema).max(100_000) });
export type FaultEntry = z.infer<typeof faultEntrySchema>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One fault as it applies to one robot; `start`/`end` are ms since the run started. */
export type InjectedFault = DistributiveOmit<FaultEntry, 'robots'> & { readonly faultId: string };

/** The faults of the file that apply to `robotId`, in file order. */
export function faultsFor(entries: readonly FaultEntry[], robotId: string): InjectedFault[] {
  const out: InjectedFault[] = [];
  entries.forEach((entry, i) => {
    if (entry.robots !== '*' && !entry.robots.includes(robotId)) return;
    const { robots: _robots, ...fault } = entry;
    out.push(Object.freeze({ ...fault, faultId: `fault-${i}` }));
  });
  return out;
}

/** End of a fault, ms since the run started; undefined for open-ended. */
export function faultEnd(f: InjectedFault): number | undefined {
  return f.type === 'brownout' ? f.start + f.silentMs : f.end;
}

export interface FaultTransitions {
  readonly started: readonly InjectedFault[];
  readonly ended: readonly InjectedFault[];
}

const NONE: FaultTransitions = { started: [], ended: [] };

/** Which of a robot's faults are active at a time, and which just started or ended. */
export class FaultTimeline {
  private readonly isActive: boolean[];

  constructor(
    readonly faults: readonly InjectedFault[],
    private readonly startTime: number,
  ) {
    this.isActive = faults.map(() => false);
  }

  /** Transitions since the last call, at true time `now`; ended first, then started, in file order. */
  update(now: number): FaultTransitions {
    if (this.faults.length === 0) return NONE;
    const t = now - this.startTime;
    const started: InjectedFault[] = [];
    const ended: InjectedFault[] = [];
    this.faults.forEach((f, i) => {
      const end = faultEnd(f);
      const active = t >= f.start && (end === undefined || t < end);
      if (active === this.isActive[i]) return;
      this.isActive[i] = active;
      (active ? started : ended).push(f);
    });
    return { started, ended };
  }

  active(): InjectedFault[] {
    return this.faults.filter((_, i) => this.isActive[i]);
  }

  /** Product of the multipliers of active slow_acks faults. */
  ackLatencyMultiplier(): number {
    let m = 1;
    for (const f of this.active()) if (f.type === 'slow_acks') m *= f.multiplier;
    return m;
  }

  /** Probability that a command is swallowed: 1 − Π(1 − p) over active missing_acks faults. */
  missingAckProbability(): number {
    let keep = 1;
    for (const f of this.active()) if (f.type === 'missing_acks') keep *= 1 - f.probability;
    return 1 - keep;
  }

  ambientRiseC(): number {
    let rise = 0;
    for (const f of this.active()) if (f.type === 'overheat') rise += f.ambientRiseC;
    return rise;
  }
}
