/**
 * Ground truth: what really happened in a simulation run, as JSON lines, for the analytics tests to
 * compare the platform's conclusions against. One JSON object per line, discriminated by `type`.
 *
 * Times: `trueTime` (and `at`, `start`, `end`, `receivedAt`) are the simulation's true time in ms
 * since the Unix epoch; `robotTime` is what the robot's own (possibly drifting) clock read at that
 * instant, the value the frames carry. Robots are named by `robotId`.
 *
 * Record types, in the order a run writes them:
 * - `run`         once, first: seed, start time, sample rate, site, firmware version, robot ids.
 * - `robot`       once per robot: nominal capacity, initial battery age, ambient temperature, device.
 * - `boot`        every boot: `oldBootId` null at power-on; on a brown-out the old and new boot id.
 * - `robot_state` per robot every `snapshotEveryMs` (default one simulated minute): true SoH,
 *                 capacity, internal resistance, cycle count, full-cycle equivalents, hot-ageing
 *                 hours, SoC, temperature, pose, mode, clock offset (robotTime − trueTime), and the
 *                 mean dirt of each zone.
 * - `fault_started` / `fault_ended`: every injected fault, by `faultId` (its index in the faults
 *                 file, the same for every robot it applies to), with the spec as given and true
 *                 start/end. A fault still active when the run ends gets `fault_ended` with
 *                 `endedBy: 'run_end'`.
 * - `command`     every command the firmware received, once its fate is final: the acks it sent
 *                 and its true `outcome` — `completed`, `rejected`, `failed`, `ignored` (a missing-
 *                 acks fault swallowed it: not executed, never answered), `lost` (the robot browned
 *                 out before answering, or was silent when it arrived) or `unfinished` (run ended).
 * - `run_end`     once, last: end time and per-robot frame counters: `samples`, `events` and
 *                 `acks` count frames produced (each once, however often it went out), `replayed`
 *                 the frames sent again in answer to a resume, `resumes` the resumes answered.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { CommandAction, RobotMode } from '@fleet/protocol';
import type { InjectedFault } from './robot/faults.js';

export const GROUND_TRUTH_SCHEMA_VERSION = 1;

export interface RunRecord {
  readonly type: 'run';
  readonly schemaVersion: number;
  readonly seed: string;
  readonly startTime: number;
  readonly sampleHz: number;
  readonly stepMs: number;
  readonly siteId: string;
  readonly firmwareVersion: string;
  readonly robotIds: readonly string[];
}

export interface RobotRecord {
  readonly type: 'robot';
  readonly robotId: string;
  readonly index: number;
  readonly nominalCapacityMah: number;
  readonly initialCycleCount: number;
  readonly initialSoh: number;
  readonly ambientC: number;
  /** The device the agent opens, when known. */
  readonly agentDevice?: string;
}

export interface BootRecord {
  readonly type: 'boot';
  readonly robotId: string;
  readonly trueTime: number;
  readonly robotTime: number;
  readonly resetReason: 'power_on' | 'brownout';
  readonly oldBootId: number | null;
  readonly newBootId: number;
}

export interface RobotStateRecord {
  readonly type: 'robot_state';
  readonly robotId: string;
  readonly trueTime: number;
  readonly robotTime: number;
  /** robotTime − trueTime, ms (fractional: the drift before the frame's rounding). */
  readonly clockOffsetMs: number;
  readonly bootId: number;
  readonly online: boolean;
  readonly mode: RobotMode;
  readonly soh: number;
  readonly capacityMah: number;
  readonly internalResistanceMohm: number;
  readonly cycleCount: number;
  readonly fullCycleEquivalents: number;
  readonly hotAgeingHours: number;
  readonly socPermille: number;
  readonly batteryTempC: number;
  readonly ambientC: number;
  readonly xMm: number;
  readonly yMm: number;
  readonly zoneId: string | null;
  readonly activeFaults: readonly string[];
  /** Mean dirt (0..255) of the cells of each zone. */
  readonly zoneDirt: Readonly<Record<string, number>>;
}

export interface FaultStartedRecord {
  readonly type: 'fault_started';
  readonly robotId: string;
  readonly faultId: string;
  readonly fault: InjectedFault;
  readonly start: number;
}

export interface FaultEndedRecord {
  readonly type: 'fault_ended';
  readonly robotId: string;
  readonly faultId: string;
  readonly fault: InjectedFault;
  readonly start: number;
  readonly end: number;
  readonly endedBy: 'schedule' | 'run_end';
}

export type CommandTruthOutcome = 'completed' | 'rejected' | 'failed' | 'ignored' | 'lost' | 'unfinished';

export interface AckTruth {
  readonly outcome: 'accepted' | 'completed' | 'rejected' | 'failed';
  readonly trueTime: number;
  readonly robotTime: number;
  readonly detail?: string;
}

export interface CommandRecord {
  readonly type: 'command';
  readonly robotId: string;
  readonly commandId: string;
  readonly action: CommandAction;
  readonly deadlineRobotTime: number;
  readonly receivedAt: number;
  readonly receivedRobotTime: number;
  readonly outcome: CommandTruthOutcome;
  readonly detail?: string;
  readonly acks: readonly AckTruth[];
  readonly endedAt: number;
}

export interface RobotCounters {
  readonly robotId: string;
  /** Samples produced. */
  readonly samples: number;
  /** Events produced. */
  readonly events: number;
  readonly acks: number;
  /** Samples and events sent again in answer to a resume (not counted again above). */
  readonly replayed: number;
  /** Resume requests the firmware answered (while on). */
  readonly resumes: number;
}

export interface RunEndRecord {
  readonly type: 'run_end';
  readonly trueTime: number;
  readonly robots: readonly RobotCounters[];
}

export type GroundTruthRecord =
  | RunRecord
  | RobotRecord
  | BootRecord
  | RobotStateRecord
  | FaultStartedRecord
  | FaultEndedRecord
  | CommandRecord
  | RunEndRecord;

/** Where ground truth goes. */
export interface GroundTruthSink {
  write(record: GroundTruthRecord): void;
}

/** Ground truth nobody asked for. */
export const discardGroundTruth: GroundTruthSink = { write: () => {} };

/** Keeps records in memory (tests, and callers that inspect truth directly). */
export class MemoryGroundTruth implements GroundTruthSink {
  readonly records: GroundTruthRecord[] = [];

  write(record: GroundTruthRecord): void {
    this.records.push(record);
  }

  ofType<T extends GroundTruthRecord['type']>(type: T): Extract<GroundTruthRecord, { type: T }>[] {
    return this.records.filter((r): r is Extract<GroundTruthRecord, { type: T }> => r.type === type);
  }
}

/** Appends records to a JSON-lines file. */
export class JsonLinesGroundTruth implements GroundTruthSink {
  private readonly out: WriteStream;

  constructor(path: string) {
    this.out = createWriteStream(path, { flags: 'w' });
  }

  write(record: GroundTruthRecord): void {
    this.out.write(`${JSON.stringify(record)}\n`);
  }

  close(): Promise<void> {
    return new Promise((done, fail) => {
      this.out.once('error', fail);
      this.out.end(done);
    });
  }
}
