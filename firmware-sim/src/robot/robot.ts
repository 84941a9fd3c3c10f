/**
 * One simulated robot: its microcontroller's firmware (boot, seq, samples, events, commands, acks,
 * flags) on top of the physics (battery, motion, dirt), with injected faults and ground truth.
 *
 * Advanced only by `step(dtMs)` on simulated time; it never reads a clock. Everything random
 * comes from streams derived from the run's seed and the robot's index, so a robot is a pure
 * function of (seed, index, options, the commands it receives and the steps at which they arrive).
 *
 * Firmware rules:
 * - seq counts every sample and event of one boot from 0 (the boot event is seq 0); a boot id is a
 *   random u32 chosen at each boot. Acks carry no seq (but are replayed, see Resume).
 * - errorFlags: `overheat` from 60 °C until the pack is back under 55 °C (the robot stops: mode
 *   error); `lowBattery` below 15 % SoC until 20 % (the robot abandons what it does and returns to
 *   the dock); `sensorStuck` only for a stuck-sensor fault that asks for it. Each flag's rise and
 *   fall is also a fault_raised / fault_cleared event whose code is the flag's bit value.
 * - Resume (replay.ts): every sample, event and ack of the current boot goes into a ring of the
 *   last `replayCapacity` frames. A `resume` from the agent for the current boot re-sends the held
 *   frames with seq >= nextSeq, and the acks sent after seq nextSeq − 1 (an ack carries no seq);
 *   one for another boot, or without a position, re-sends all it holds, oldest first. Replayed frames are the original frames (same seq, same robotTime, same bytes),
 *   sent as fast as the line takes them, with newer frames queued behind them; `counters.replayed`
 *   counts them, while `samples` and `events` count frames produced. A robot that is off (browned
 *   out) ignores a resume.
 * - Commands that need driving (start_cleaning, go_to_zone) are refused below 20 % SoC and in error.
 * - start_cleaning from the dock cleans every zone in site-file order; from anywhere else, the zone
 *   the robot is in (all zones if none). Afterwards the robot returns to the dock by itself.
 */
import {
  ErrorFlag,
  type CommandAction,
  type RobotEventBody,
  type SerialAckFrame,
  type SerialCommandFrame,
  type SerialFrame,
  type SerialResumeFrame,
} from '@fleet/protocol';
import type { GroundTruthSink, RobotStateRecord } from '../ground-truth.js';
import { Battery, batteryParams, type BatteryInit } from '../physics/battery.js';
import { DirtGrid } from '../physics/dirt.js';
import { powerDemand } from '../physics/power.js';
import { findZone, zoneAt, type Site } from '../physics/site.js';
import { Rng } from '../random.js';
import { RobotClock } from './clock.js';
import { CommandDesk, type AckLatency, type Execution } from './commands.js';
import { Controller, type Arrival } from './controller.js';
import { FaultTimeline, type InjectedFault } from './faults.js';
import { DEFAULT_REPLAY_CAPACITY, ReplayRing, type SequencedFrame } from './replay.js';
import { Sensors } from './sensors.js';

export const LOW_BATTERY_SOC = 0.15;
export const LOW_BATTERY_CLEAR_SOC = 0.2;
export const OVERHEAT_C = 60;
export const OVERHEAT_CLEAR_C = 55;
export const DEFAULT_FIRMWARE_VERSION = '2.3.1-sim';

/** Where a robot's frames go: a serial link, or a buffer in a test. */
export interface FrameOutput {
  send(frame: SerialFrame): void;
  /**
   * False while the transmit buffer is full: a replay waits (and resumes at the next step) rather
   * than overrun it. Absent means always writable.
   */
  readonly writable?: boolean;
}

/** The frames the agent sends down the line. */
export type AgentFrame = SerialCommandFrame | SerialResumeFrame;

export interface RobotOptions {
  readonly index: number;
  readonly robotId: string;
  /** The run's seed; the robot's streams are derived from it and `index`. */
  readonly seed: string;
  readonly site: Site;
  readonly startTime: number;
  readonly sampleHz: number;
  readonly ackLatency: AckLatency;
  readonly faults: readonly InjectedFault[];
  readonly output: FrameOutput;
  readonly groundTruth: GroundTruthSink;
  readonly firmwareVersion?: string;
  readonly nominalCapacityMah?: number;
  /** Overrides of the seeded initial battery state (tests). */
  readonly battery?: Partial<BatteryInit>;
  /** Start a cleaning run by itself this often, when docked and charged. */
  readonly autoCleanEveryMs?: number;
  readonly agentDevice?: string;
  /** Frames of the current boot kept for resume; default DEFAULT_REPLAY_CAPACITY (2048). */
  readonly replayCapacity?: number;
}

export class Robot {
  readonly robotId: string;
  readonly battery: Battery;
  readonly controller: Controller;
  readonly dirt: DirtGrid;
  readonly clock: RobotClock;
  readonly ambientC: number;
  private time: number;
  private readonly periodMs: number;
  private nextSampleAt: number;
  private readonly faults: FaultTimeline;
  private readonly faultStarts = new Map<string, number>();
  private readonly desk: CommandDesk;
  private readonly sensors: Sensors;
  private readonly bootRng: Rng;
  private readonly floorRng: Rng;
  private floor = 0;
  private online = false;
  private bootIdValue: number | null = null;
  private seq = 0;
  private overheat = false;
  private lowBattery = false;
  private stuckFlags = 0;
  private nextAutoClean = Infinity;
  private readonly replay: ReplayRing;
  /**
   * Frames produced (`samples`, `events`, `acks`), frames sent again on a resume (`replayed`), and
   * resume requests answered (`resumes`).
   */
  readonly counters = { samples: 0, events: 0, acks: 0, replayed: 0, resumes: 0 };

  constructor(private readonly o: RobotOptions) {
    this.robotId = o.robotId;
    this.time = o.startTime;
    this.periodMs = 1000 / o.sampleHz;
    this.nextSampleAt = o.startTime;
    const rng = Rng.fromSeed(`${o.seed}/robot/${o.index}`);
    const init = rng.fork('init');
    this.ambientC = o.site.ambientC + init.range(-2, 2);
    const cycles = Math.floor(init.range(0, 800));
    this.battery = new Battery(batteryParams(o.nominalCapacityMah), {
      soc: init.range(0.6, 1),
      fullCycleEquivalents: cycles,
      hotAgeingHours: init.range(0, 40),
      cycleCount: cycles,
      temperatureC: this.ambientC,
      ...o.battery,
    });
    this.dirt = new DirtGrid(o.site, o.startTime, rng.fork('dirt'));
    this.controller = new Controller(o.site, this.dirt);
    this.clock = new RobotClock(o.faults, o.startTime);
    this.faults = new FaultTimeline(o.faults, o.startTime);
    this.sensors = new Sensors(rng.fork('sensors'));
    this.bootRng = rng.fork('boot');
    this.floorRng = rng.fork('floor');
    this.replay = new ReplayRing(o.replayCapacity ?? DEFAULT_REPLAY_CAPACITY);
    this.desk = new CommandDesk(
      {
        robotId: o.robotId,
        now: () => this.time,
        robotTime: () => this.robotTime,
        sendAck: (commandId, outcome, detail) => {
          if (!this.online) return;
          this.counters.acks++;
          this.sendHeld({
            type: 'ack',
            commandId,
            outcome,
            robotTime: this.robotTime,
            ...(detail === undefined ? {} : { detail }),
          });
        },
        execute: (action) => this.execute(action),
        record: (r) => o.groundTruth.write(r),
      },
      rng.fork('commands'),
      o.ackLatency,
      this.faults,
    );
    if (o.autoCleanEveryMs !== undefined)
      this.nextAutoClean = o.startTime + init.range(0, o.autoCleanEveryMs);
  }

  /** True time, ms since the epoch. */
  get now(): number {
    return this.time;
  }
  get robotTime(): number {
    return this.clock.robotTime(this.time);
  }
  get bootId(): number | null {
    return this.bootIdValue;
  }
  get isOnline(): boolean {
    return this.online;
  }
  get activeCommand(): SerialCommandFrame | undefined {
    return this.desk.active;
  }
  get errorFlags(): number {
    return (
      (this.overheat ? ErrorFlag.overheat : 0) |
      (this.lowBattery ? ErrorFlag.lowBattery : 0) |
      (this.stuckFlags > 0 ? ErrorFlag.sensorStuck : 0)
    );
  }

  /** Power-on: the first boot. */
  start(): void {
    const b = this.battery;
    this.o.groundTruth.write({
      type: 'robot',
      robotId: this.robotId,
      index: this.o.index,
      nominalCapacityMah: b.params.nominalCapacityMah,
      initialCycleCount: b.cycleCount,
      initialSoh: b.soh,
      ambientC: this.ambientC,
      ...(this.o.agentDevice === undefined ? {} : { agentDevice: this.o.agentDevice }),
    });
    this.boot('power_on');
    this.applyFaults();
  }

  /** A frame from the agent, arriving now. */
  receive(frame: AgentFrame): void {
    switch (frame.type) {
      case 'command':
        if (this.online) this.desk.receive(frame);
        else this.desk.lostOnArrival(frame);
        return;
      case 'resume':
        return this.resume(frame);
    }
  }

  /** Frames of the current boot held for resume, and how many of them are still to be sent. */
  get replayState(): { readonly held: number; readonly pending: number; readonly oldestSeq?: number } {
    const oldest = this.replay.oldest;
    return {
      held: this.replay.size,
      pending: this.replay.pending,
      ...(oldest === undefined ? {} : { oldestSeq: oldest.seq }),
    };
  }

  step(dtMs: number): void {
    this.time += dtMs;
    this.applyFaults();
    if (!this.online) {
      this.controller.step(dtMs, this.time);
      this.battery.step(dtMs, { loadW: 0, heatW: 0, ambientC: this.ambient(), onCharger: false });
      return;
    }
    this.pump();
    this.desk.process();
    const arrival = this.controller.step(dtMs, this.time);
    if (arrival !== undefined) this.arrived(arrival);
    this.runBattery(dtMs);
    this.watch();
    this.autoClean();
    if (this.time >= this.nextSampleAt) this.sample();
  }

  /** End of the run: close open commands and faults in the ground truth. */
  finish(): void {
    this.desk.finish();
    for (const f of this.faults.active()) this.recordFaultEnd(f, 'run_end');
  }

  snapshot(): RobotStateRecord {
    const b = this.battery;
    const c = this.controller;
    const zoneDirt: Record<string, number> = {};
    for (const z of this.o.site.zones) zoneDirt[z.zoneId] = round(this.dirt.meanIn(z, this.time), 2);
    return {
      type: 'robot_state',
      robotId: this.robotId,
      trueTime: this.time,
      robotTime: this.robotTime,
      clockOffsetMs: round(this.clock.offsetMs(this.time), 3),
      bootId: this.bootIdValue ?? 0,
      online: this.online,
      mode: c.mode(b.phase === 'cc' || b.phase === 'cv'),
      soh: round(b.soh, 6),
      capacityMah: round(b.capacityMah, 1),
      internalResistanceMohm: round(b.internalResistanceOhm * 1000, 3),
      cycleCount: b.cycleCount,
      fullCycleEquivalents: round(b.fullCycleEquivalents, 4),
      hotAgeingHours: round(b.hotAgeingHours, 4),
      socPermille: Math.round(b.soc * 1000),
      batteryTempC: round(b.temperatureC, 2),
      ambientC: round(this.ambient(), 2),
      xMm: Math.round(c.pose.xMm),
      yMm: Math.round(c.pose.yMm),
      zoneId: zoneAt(this.o.site, c.pose.xMm, c.pose.yMm)?.zoneId ?? null,
      activeFaults: this.faults.active().map((f) => f.faultId),
      zoneDirt,
    };
  }

  private ambient(): number {
    return this.ambientC + this.faults.ambientRiseC();
  }

  private boot(resetReason: 'power_on' | 'brownout'): void {
    const oldBootId = this.bootIdValue;
    let bootId = this.bootRng.u32();
    while (bootId === oldBootId) bootId = this.bootRng.u32();
    this.bootIdValue = bootId;
    this.seq = 0;
    this.replay.clear();
    this.online = true;
    this.overheat = false;
    this.lowBattery = false;
    this.sensors.reset();
    // Samples follow the boot event on a fixed grid, one period apart.
    this.nextSampleAt = this.time + this.periodMs;
    this.o.groundTruth.write({
      type: 'boot',
      robotId: this.robotId,
      trueTime: this.time,
      robotTime: this.robotTime,
      resetReason,
      oldBootId,
      newBootId: bootId,
    });
    this.event({
      type: 'boot',
      firmwareVersion: this.o.firmwareVersion ?? DEFAULT_FIRMWARE_VERSION,
      resetReason,
    });
    if (this.stuckFlags > 0)
      this.event({ type: 'fault_raised', code: ErrorFlag.sensorStuck, message: 'sensor stuck' });
  }

  private brownOut(): void {
    this.online = false;
    this.desk.loseAll('brown-out before it was answered');
    this.controller.stop();
    this.controller.clearError();
  }

  private applyFaults(): void {
    const { started, ended } = this.faults.update(this.time);
    for (const f of ended) {
      this.recordFaultEnd(f, 'schedule');
      if (f.type === 'sensor_stuck') {
        this.sensors.release(f.sensor);
        if (f.raiseFlag && --this.stuckFlags === 0)
          this.event({ type: 'fault_cleared', code: ErrorFlag.sensorStuck });
      }
      const brownoutLeft = this.faults.active().some((a) => a.type === 'brownout');
      if (f.type === 'brownout' && !brownoutLeft) this.boot('brownout');
    }
    for (const f of started) {
      this.faultStarts.set(f.faultId, this.time);
      this.o.groundTruth.write({
        type: 'fault_started',
        robotId: this.robotId,
        faultId: f.faultId,
        fault: f,
        start: this.time,
      });
      if (f.type === 'sensor_stuck') {
        this.sensors.freeze(f.sensor);
        if (f.raiseFlag && this.stuckFlags++ === 0)
          this.event({
            type: 'fault_raised',
            code: ErrorFlag.sensorStuck,
            message: `${f.sensor} sensor stuck`,
          });
      } else if (f.type === 'brownout' && this.online) {
        this.brownOut();
      }
    }
  }

  private recordFaultEnd(f: InjectedFault, endedBy: 'schedule' | 'run_end'): void {
    const start = this.faultStarts.get(f.faultId) ?? this.time;
    this.o.groundTruth.write({
      type: 'fault_ended',
      robotId: this.robotId,
      faultId: f.faultId,
      fault: f,
      start,
      end: this.time,
      endedBy,
    });
  }

  private execute(action: CommandAction): Execution {
    const c = this.controller;
    const error = c.inError;
    switch (action.type) {
      case 'stop':
        c.stop();
        return { kind: 'done' };
      case 'go_to_dock':
        if (error !== undefined) return { kind: 'rejected', detail: `robot in error: ${error}` };
        c.goToDock();
        return c.activity.kind === 'docked' ? { kind: 'done' } : { kind: 'started', until: 'docked' };
      case 'go_to_zone': {
        const zone = findZone(this.o.site, action.zoneId);
        if (zone === undefined) return { kind: 'rejected', detail: `unknown zone ${action.zoneId}` };
        const refused = this.refuseDriving(error);
        if (refused !== undefined) return refused;
        c.goToZone(zone);
        return { kind: 'started', until: 'zone_reached' };
      }
      case 'start_cleaning': {
        const refused = this.refuseDriving(error);
        if (refused !== undefined) return refused;
        // Sent off from the dock it cleans the whole site; stopped in a zone, that zone.
        const here = c.activity.kind === 'docked' ? undefined : zoneAt(this.o.site, c.pose.xMm, c.pose.yMm);
        c.startCleaning(here === undefined ? this.o.site.zones : [here]);
        return { kind: 'started', until: 'cleaning_done' };
      }
    }
  }

  private refuseDriving(error: string | undefined): Execution | undefined {
    if (error !== undefined) return { kind: 'rejected', detail: `robot in error: ${error}` };
    if (this.battery.soc < LOW_BATTERY_CLEAR_SOC) return { kind: 'rejected', detail: 'battery too low' };
    return undefined;
  }

  private arrived(arrival: Arrival): void {
    this.desk.arrived(arrival);
    // After cleaning, the robot goes home by itself.
    if (arrival === 'cleaning_done') this.controller.goToDock();
  }

  private runBattery(dtMs: number): void {
    const c = this.controller;
    // Floor torque: an Ornstein–Uhlenbeck process (τ = 5 s, σ = 0.08) around 1, as the robot
    // crosses rugs, thresholds and tiles.
    const a = Math.exp(-dtMs / 5000);
    this.floor = this.floor * a + 0.08 * Math.sqrt(1 - a * a) * this.floorRng.normal();
    const demand = powerDemand({
      speedMmS: c.speedMmS,
      cleaning: c.cleaning,
      floorFactor: 1 + Math.abs(this.floor),
    });
    const onCharger = c.activity.kind === 'docked';
    this.battery.step(dtMs, { ...demand, ambientC: this.ambient(), onCharger });
  }

  private watch(): void {
    const b = this.battery;
    const c = this.controller;
    if (!this.overheat && b.temperatureC >= OVERHEAT_C) {
      this.overheat = true;
      this.event({ type: 'fault_raised', code: ErrorFlag.overheat, message: 'battery over temperature' });
      this.desk.failActive('overheat');
      c.fail('overheat');
    } else if (this.overheat && b.temperatureC <= OVERHEAT_CLEAR_C) {
      this.overheat = false;
      this.event({ type: 'fault_cleared', code: ErrorFlag.overheat });
      if (c.inError === 'overheat') c.clearError();
    }
    if (!this.lowBattery && b.soc < LOW_BATTERY_SOC) {
      this.lowBattery = true;
      this.event({ type: 'fault_raised', code: ErrorFlag.lowBattery, message: 'battery low' });
      const kind = c.activity.kind;
      if (kind === 'cleaning' || kind === 'moving' || kind === 'idle') {
        this.desk.failActive('low battery');
        c.goToDock();
      }
    } else if (this.lowBattery && b.soc >= LOW_BATTERY_CLEAR_SOC) {
      this.lowBattery = false;
      this.event({ type: 'fault_cleared', code: ErrorFlag.lowBattery });
    }
    if (b.empty && c.activity.kind !== 'docked' && c.inError === undefined) {
      this.desk.failActive('battery empty');
      c.fail('battery_empty');
    }
  }

  private autoClean(): void {
    const every = this.o.autoCleanEveryMs;
    if (every === undefined || this.time < this.nextAutoClean) return;
    if (this.controller.activity.kind !== 'docked' || this.battery.soc < 0.9) return;
    this.nextAutoClean = this.time + every;
    this.controller.startCleaning(this.o.site.zones);
  }

  private sample(): void {
    this.nextSampleAt += this.periodMs;
    if (this.nextSampleAt <= this.time) this.nextSampleAt = this.time + this.periodMs;
    const b = this.battery;
    const c = this.controller;
    const m = this.sensors.measure({
      voltageV: b.terminalVoltageV,
      currentA: b.currentA,
      soc: b.soc,
      temperatureC: b.temperatureC,
      cycleCount: b.cycleCount,
      xMm: c.pose.xMm,
      yMm: c.pose.yMm,
      headingRad: c.pose.headingRad,
      speedMmS: c.speedMmS,
      dirt: c.dirtReading,
      mode: c.mode(b.phase === 'cc' || b.phase === 'cv'),
      errorFlags: this.errorFlags,
    });
    this.counters.samples++;
    this.sendSequenced({
      type: 'sample',
      bootId: this.bootIdValue ?? 0,
      seq: this.nextSeq(),
      robotTime: this.robotTime,
      ...m,
    });
  }

  private event(body: RobotEventBody): void {
    if (!this.online) return;
    this.counters.events++;
    this.sendSequenced({
      type: 'event',
      bootId: this.bootIdValue ?? 0,
      seq: this.nextSeq(),
      robotTime: this.robotTime,
      body,
    });
  }

  /** Keeps the frame for resume; sends it now unless a replay is under way (it then queues). */
  private sendSequenced(frame: SequencedFrame): void {
    if (!this.online) return;
    if (this.replay.push(frame)) {
      this.pump();
      return;
    }
    this.o.output.send(frame);
  }

  /** An ack goes into the ring too, placed before the next seq (replay.ts), and out like a frame. */
  private sendHeld(frame: SerialAckFrame): void {
    if (this.replay.push(frame, this.seq)) {
      this.pump();
      return;
    }
    this.o.output.send(frame);
  }

  private resume(frame: SerialResumeFrame): void {
    if (!this.online) return; // the microcontroller is off: nobody hears it
    this.counters.resumes++;
    const p = frame.position;
    // For the current boot, from the seq asked; for an older boot (the robot rebooted since) or
    // without a position, all that is held of the current boot.
    this.replay.rewind(p !== undefined && p.bootId === this.bootIdValue ? p.nextSeq : undefined);
    this.pump();
  }

  /** Sends pending frames of a replay, oldest first, while the line takes them. */
  private pump(): void {
    while (this.replay.pending > 0 && this.o.output.writable !== false) {
      const next = this.replay.next();
      if (next === undefined) return;
      if (next.again) this.counters.replayed++;
      this.o.output.send(next.frame);
    }
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) >>> 0;
    return s;
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
