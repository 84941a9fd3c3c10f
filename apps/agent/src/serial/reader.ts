/**
 * Turns the bytes of the serial line into typed frames for the agent.
 *
 * - Decoding, corruption and resync are `SerialFrameDecoder`'s; this counts the corrupt runs by
 *   code and reports each one (`serial_corrupt_frame`), then goes on with the next frame.
 * - Reboots: a frame with a bootId other than the current one, or a `boot` event, is a reboot
 *   (reported once per boot, `serial_reboot`); the first frame after the agent starts only adopts
 *   its boot, unless it is the `boot` event itself.
 * - Resume (resume.ts): `opened()` gives the resume frame to send each time the line opens; samples
 *   and events then pass the ResumeGate, which drops frames the agent already has (replays),
 *   restores seq order where a replay raced live frames, and marks replayed frames `delayed` so
 *   that they are not taken as robot-clock readings. Acks pass straight on, marked `delayed`
 *   while a catch-up is under way (they may be replays: resume-capable firmware re-sends acks too;
 *   the command handler drops one it already has).
 * - Sequence: samples and events share one per-boot `seq` that the firmware increments by one.
 *   A jump forward is a gap (frames lost on the line, or gone from the firmware's replay ring,
 *   counted with the number missing); a step back that is not a duplicate is a regression. Both
 *   are reported and counted, never fatal. With a persisted position the count goes on from it, so
 *   frames lost while the agent was down show as a gap too.
 * - Command and resume frames travel agent → firmware only; one arriving here is counted and dropped.
 */
import {
  SerialFrameDecoder,
  type SerialAckFrame,
  type SerialEventFrame,
  type SerialResumeFrame,
  type SerialSampleFrame,
} from '@fleet/protocol';
import { systemClock, type Clock } from '../clock/clock.js';
import { emit } from '../diagnostics.js';
import { ResumeGate, type ResumeTuning, type SerialPosition } from './resume.js';

/** The frames the firmware sends up. */
export type FirmwareFrame = SerialSampleFrame | SerialEventFrame | SerialAckFrame;

export interface RebootInfo {
  readonly bootId: number;
  readonly previousBootId: number | undefined;
  readonly reason: 'boot_id_changed' | 'boot_event';
}

export interface SerialReaderHandlers {
  /**
   * Every firmware frame the agent does not have yet, in seq order (acks as they come), with the
   * agent time its bytes were read. `delayed`: the frame waited in the firmware (a replay), so its
   * receive time says nothing about the robot's clock.
   */
  onFrame(frame: FirmwareFrame, receivedAt: number, delayed: boolean): void;
  /** Called before the first frame of the new boot is handed on. */
  onReboot?(info: RebootInfo): void;
  /** A resume catch-up has handed on everything it held (see resume.ts). */
  onCaughtUp?(): void;
}

export interface SerialReaderOptions extends ResumeTuning {
  /** Timers of the resume catch-up; default the system clock. */
  readonly clock?: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>;
  /** The last frame the agent has from an earlier run (persisted next to the spool). */
  readonly position?: SerialPosition;
}

export class SerialReader {
  private readonly decoder = new SerialFrameDecoder();
  private readonly gate: ResumeGate;
  private bootId: number | undefined;
  private lastSeq: number | undefined;
  private rebootNoticed: number | undefined;
  private reboots = 0;
  private seqGaps = 0;
  private missingFrames = 0;
  private unexpectedFrames = 0;
  // A wrong baud rate makes every run corrupt: report at most one of each per second.
  private readonly corruptReport = new RateLimitedReport('serial_corrupt_frame');
  private readonly gapReport = new RateLimitedReport('serial_seq_gap');

  constructor(
    private readonly handlers: SerialReaderHandlers,
    options: SerialReaderOptions = {},
  ) {
    const { clock = systemClock, position, ...tuning } = options;
    this.gate = new ResumeGate({
      ...tuning,
      clock,
      ...(position === undefined ? {} : { position }),
      onFrame: (frame, receivedAt, delayed) => {
        this.track(frame, receivedAt);
        this.handlers.onFrame(frame, receivedAt, delayed);
      },
      onCaughtUp: () => this.handlers.onCaughtUp?.(),
    });
    if (position !== undefined) {
      this.bootId = position.bootId;
      this.lastSeq = position.seq;
      this.rebootNoticed = position.bootId;
    }
  }

  /**
   * The line (re)opened: drops a half-received frame and returns the resume frame to send, which
   * starts a catch-up (see resume.ts).
   */
  opened(): SerialResumeFrame {
    this.decoder.reset();
    return this.gate.opened();
  }

  /** Hands on whatever a catch-up still holds (before the agent stops). */
  flush(): void {
    this.gate.flush();
  }

  /** The last frame handed on, or the persisted position before any. */
  get position(): SerialPosition | undefined {
    return this.gate.position;
  }

  push(chunk: Uint8Array, receivedAt: number): void {
    for (const result of this.decoder.push(chunk)) {
      if (!result.ok) {
        this.corruptReport.report(receivedAt, () => ({
          code: result.error.code,
          error: result.error.message,
          framesCorrupt: this.decoder.stats.framesCorrupt,
        }));
        continue;
      }
      const frame = result.frame;
      switch (frame.type) {
        case 'sample':
        case 'event':
          this.gate.push(frame, receivedAt);
          break;
        case 'ack':
          // During a catch-up an ack may be a replay (resume-capable firmware re-sends acks too):
          // handed on at once, but not as a clock reading.
          this.handlers.onFrame(frame, receivedAt, this.gate.catchingUp);
          break;
        case 'command':
          this.unexpectedFrames++;
          emit('serial', 'warn', 'serial_unexpected_frame', { type: frame.type, commandId: frame.commandId });
          break;
        case 'resume':
          this.unexpectedFrames++;
          emit('serial', 'warn', 'serial_unexpected_frame', { type: frame.type });
          break;
        default:
          assertNever(frame);
      }
    }
  }

  /** Drops a half-received frame (after the device was reopened). */
  reset(): void {
    this.decoder.reset();
  }

  /** The boot the last frame belonged to. */
  get currentBootId(): number | undefined {
    return this.bootId;
  }

  stats() {
    const d = this.decoder.stats;
    return {
      bytesIn: d.bytesIn,
      bytesDiscarded: d.bytesDiscarded,
      framesOk: d.framesOk,
      framesCorrupt: d.framesCorrupt,
      corruptByCode: d.corruptByCode,
      reboots: this.reboots,
      seqGaps: this.seqGaps,
      missingFrames: this.missingFrames,
      unexpectedFrames: this.unexpectedFrames,
      resume: this.gate.stats(),
    };
  }

  private track(frame: SerialSampleFrame | SerialEventFrame, receivedAt: number): void {
    const previous = this.bootId;
    const isBootEvent = frame.type === 'event' && frame.body.type === 'boot';
    if (previous !== frame.bootId) {
      this.bootId = frame.bootId;
      this.lastSeq = undefined;
      if (previous !== undefined) this.reboot(frame.bootId, previous, 'boot_id_changed');
    }
    // A boot event whose seq does not follow on: the firmware restarted and reused its bootId.
    const restarted = this.lastSeq !== undefined && frame.seq <= this.lastSeq;
    if (isBootEvent && (this.rebootNoticed !== frame.bootId || restarted)) {
      if (restarted) this.lastSeq = undefined;
      this.reboot(frame.bootId, previous === frame.bootId ? undefined : previous, 'boot_event');
    }
    // The gate let through no seq at or below the last of this boot, bar a restart handled above.
    const last = this.lastSeq;
    if (last !== undefined && frame.seq > last + 1) {
      this.seqGaps++;
      this.missingFrames += frame.seq - last - 1;
      this.gapReport.report(receivedAt, () => ({
        bootId: frame.bootId,
        expected: last + 1,
        got: frame.seq,
        missing: frame.seq - last - 1,
        missingFrames: this.missingFrames,
      }));
    }
    this.lastSeq = frame.seq;
  }

  private reboot(bootId: number, previousBootId: number | undefined, reason: RebootInfo['reason']): void {
    this.rebootNoticed = bootId;
    this.reboots++;
    emit('serial', 'info', 'serial_reboot', { bootId, previousBootId, reason });
    this.handlers.onReboot?.({ bootId, previousBootId, reason });
  }
}

/** Emits a warning at most once per `intervalMs`, saying how many were left out in between. */
class RateLimitedReport {
  private last = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly event: string,
    private readonly intervalMs = 1000,
  ) {}

  report(now: number, fields: () => Readonly<Record<string, unknown>>): void {
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    emit('serial', 'warn', this.event, { ...fields(), suppressedSinceLast: this.suppressed });
    this.last = now;
    this.suppressed = 0;
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled serial frame ${JSON.stringify(value)}`);
}
