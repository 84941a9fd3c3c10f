/**
 * The firmware's command handling: the path from a `command` frame to its `ack` frames.
 *
 * - A command is processed a latency after it arrives (the firmware's main loop is busy with
 *   motion control): a lognormal draw with the configured median and p99, times any slow_acks
 *   multiplier. A missing_acks fault may instead swallow it whole: never executed, never answered.
 * - At processing time a command whose `deadlineRobotTime` the robot's clock has passed is
 *   `rejected`; so is one the robot cannot carry out (unknown zone, battery low, in error).
 *   Otherwise it is `accepted` and started; `completed` follows when it is done (at once for stop).
 * - A command that is started while another is running interrupts it: the older one gets `failed`.
 *   The robot also fails the running command itself (low battery, overheat).
 * - Command ids are remembered (the last 256): a repeated id is not executed again; the last ack
 *   sent for it is sent again, so an agent that retried after a lost ack learns the outcome.
 * - A brown-out wipes RAM: pending and running commands are `lost` (no ack ever comes).
 */
import type { CommandAction, FirmwareAckOutcome, SerialCommandFrame } from '@fleet/protocol';
import type { AckTruth, CommandRecord, CommandTruthOutcome } from '../ground-truth.js';
import type { Rng } from '../random.js';
import type { FaultTimeline } from './faults.js';

/** What a started command waits for before it is `completed`. */
export type Expectation = 'cleaning_done' | 'zone_reached' | 'docked';

export type Execution =
  | { readonly kind: 'done' }
  | { readonly kind: 'started'; readonly until: Expectation }
  | { readonly kind: 'rejected'; readonly detail: string };

export interface AckLatency {
  readonly medianMs: number;
  readonly p99Ms: number;
}

export interface CommandHost {
  readonly robotId: string;
  /** True time, ms. */
  now(): number;
  robotTime(): number;
  sendAck(commandId: string, outcome: FirmwareAckOutcome, detail?: string): void;
  execute(action: CommandAction): Execution;
  record(record: CommandRecord): void;
}

interface Tracked {
  readonly frame: SerialCommandFrame;
  readonly receivedAt: number;
  readonly receivedRobotTime: number;
  readonly acks: AckTruth[];
  dueAt: number;
  until?: Expectation;
  final: boolean;
}

const REMEMBERED_IDS = 256;

export class CommandDesk {
  private readonly known = new Map<string, Tracked>();
  /** Received, not yet processed, by due time. */
  private queue: Tracked[] = [];
  private running: Tracked | undefined;

  constructor(
    private readonly host: CommandHost,
    private readonly rng: Rng,
    private readonly latency: AckLatency,
    private readonly faults: FaultTimeline,
  ) {}

  /** The command the robot is carrying out, if any. */
  get active(): SerialCommandFrame | undefined {
    return this.running?.frame;
  }

  receive(frame: SerialCommandFrame): void {
    const seen = this.known.get(frame.commandId);
    if (seen !== undefined) {
      const last = seen.acks[seen.acks.length - 1];
      if (last !== undefined) this.host.sendAck(frame.commandId, last.outcome, last.detail);
      return;
    }
    const now = this.host.now();
    const t = this.track(frame, now);
    if (this.rng.chance(this.faults.missingAckProbability())) {
      this.finalize(t, 'ignored', 'swallowed by a missing_acks fault');
      return;
    }
    t.dueAt =
      now +
      this.rng.lognormal(this.latency.medianMs, this.latency.p99Ms) * this.faults.ackLatencyMultiplier();
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.dueAt > t.dueAt) i--;
    this.queue.splice(i, 0, t);
  }

  /** A command that arrived while the firmware was not running. */
  lostOnArrival(frame: SerialCommandFrame): void {
    this.finalize(this.fresh(frame, this.host.now()), 'lost', 'robot silent (brown-out) when it arrived');
  }

  /** Processes every command due by now. */
  process(): void {
    const now = this.host.now();
    while (this.queue.length > 0 && this.queue[0]!.dueAt <= now) this.handle(this.queue.shift()!);
  }

  /** The robot finished something; completes the running command if it was waiting for that. */
  arrived(what: Expectation): void {
    const t = this.running;
    if (t === undefined || t.until !== what) return;
    this.running = undefined;
    this.ack(t, 'completed');
    this.finalize(t, 'completed');
  }

  failActive(detail: string): void {
    const t = this.running;
    if (t === undefined) return;
    this.running = undefined;
    this.ack(t, 'failed', detail);
    this.finalize(t, 'failed', detail);
  }

  /** Brown-out: everything in RAM is gone, unanswered. */
  loseAll(detail: string): void {
    for (const t of [...this.queue, ...(this.running === undefined ? [] : [this.running])]) {
      this.finalize(t, 'lost', detail);
    }
    this.queue = [];
    this.running = undefined;
    this.known.clear();
  }

  /** End of the run: whatever is still open is `unfinished`. */
  finish(): void {
    for (const t of [...this.queue, ...(this.running === undefined ? [] : [this.running])]) {
      this.finalize(t, 'unfinished', 'run ended');
    }
    this.queue = [];
    this.running = undefined;
  }

  private handle(t: Tracked): void {
    const { frame } = t;
    if (this.host.robotTime() > frame.deadlineRobotTime) {
      this.ack(t, 'rejected', 'deadline passed');
      this.finalize(t, 'rejected', 'deadline passed');
      return;
    }
    const result = this.host.execute(frame.action);
    if (result.kind === 'rejected') {
      this.ack(t, 'rejected', result.detail);
      this.finalize(t, 'rejected', result.detail);
      return;
    }
    this.ack(t, 'accepted');
    this.failActive(`interrupted by ${frame.action.type} ${frame.commandId}`);
    if (result.kind === 'done') {
      this.ack(t, 'completed');
      this.finalize(t, 'completed');
    } else {
      t.until = result.until;
      this.running = t;
    }
  }

  private fresh(frame: SerialCommandFrame, now: number): Tracked {
    return {
      frame,
      receivedAt: now,
      receivedRobotTime: this.host.robotTime(),
      acks: [],
      dueAt: now,
      final: false,
    };
  }

  private track(frame: SerialCommandFrame, now: number): Tracked {
    const t = this.fresh(frame, now);
    this.known.set(frame.commandId, t);
    if (this.known.size > REMEMBERED_IDS) {
      for (const [id, old] of this.known) {
        if (old.final) {
          this.known.delete(id);
          break;
        }
      }
    }
    return t;
  }

  private ack(t: Tracked, outcome: FirmwareAckOutcome, detail?: string): void {
    this.host.sendAck(t.frame.commandId, outcome, detail);
    const ack: AckTruth = {
      outcome,
      trueTime: this.host.now(),
      robotTime: this.host.robotTime(),
      ...(detail === undefined ? {} : { detail }),
    };
    t.acks.push(ack);
  }

  private finalize(t: Tracked, outcome: CommandTruthOutcome, detail?: string): void {
    if (t.final) return;
    t.final = true;
    const { frame } = t;
    this.host.record({
      type: 'command',
      robotId: this.host.robotId,
      commandId: frame.commandId,
      action: frame.action,
      deadlineRobotTime: frame.deadlineRobotTime,
      receivedAt: t.receivedAt,
      receivedRobotTime: t.receivedRobotTime,
      outcome,
      ...(detail === undefined ? {} : { detail }),
      acks: t.acks,
      endedAt: this.host.now(),
    });
  }
}
