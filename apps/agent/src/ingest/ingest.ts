/**
 * Firmware frames → messages in the spool. Each sample and event gets its event time here, once,
 * from the frame's robotTime and the time its bytes were read (clock/event-time.ts), and is then
 * encoded and spooled: samples in class telemetry, events in class priority. Acks go to the
 * command handler, which spools them too; a replayed (`delayed`) ack waits with the frames for a
 * clock estimate like a replayed sample.
 *
 * A `delayed` frame (one the firmware sent again on a resume, serial/resume.ts) arrives long after
 * its robotTime: it is not a reading of the robot's clock and is not observed; its event time comes
 * from the estimate like any frame's. Right after the agent starts (or the robot reboots) there is
 * no estimate yet and the replay comes before any live frame: delayed frames then wait, and the
 * frames after them wait behind them (observed, so order is kept), until `caughtUp()` — the end of
 * the resume catch-up, which hands on its live frames right after the replay — and are then all
 * stamped from the estimate those live frames gave, and spooled in order.
 *
 * Each spooled frame is tracked by the durable position (durable-position.ts) until the spool
 * writer settles it.
 */
import {
  encodeMessage,
  type RobotEvent,
  type SerialAckFrame,
  type SerialEventFrame,
  type SerialSampleFrame,
  type TelemetrySample,
} from '@fleet/protocol';
import type { EventTimeStamper } from '../clock/event-time.js';
import { emit } from '../diagnostics.js';
import { errorMessage } from '../errors.js';
import type { FirmwareFrame, RebootInfo } from '../serial/reader.js';
import type { SequencedFrame } from '../serial/resume.js';
import type { SpoolClass } from '../spool/spool.js';
import type { DurablePosition } from './durable-position.js';

export interface IngestOptions {
  readonly robotId: string;
  readonly siteId: string;
  readonly stamper: EventTimeStamper;
  readonly spool: { write(cls: SpoolClass, payload: Uint8Array, settled?: () => void): void };
  /** Moves on as spooled frames settle; absent, positions are not tracked. */
  readonly position?: Pick<DurablePosition, 'track' | 'trackAck'>;
  /** A firmware ack; `settled`, when given, once it is in the spool (or will never be). */
  onAck(frame: SerialAckFrame, settled?: () => void): void;
}

/** Frames waiting for a clock estimate, at most (then stamped from what there is). */
const MAX_WAITING = 16_384;

export class Ingest {
  private readonly counts = { samples: 0, events: 0, acks: 0, rejected: 0, clockSteps: 0, delayed: 0 };
  private waiting: FirmwareFrame[] = [];

  constructor(private readonly options: IngestOptions) {}

  /**
   * One frame from the serial reader, in order; `delayed`: replayed, not a clock reading.
   *
   * @example
   * ingest.onFrame(frame, clock.now(), false);
   */
  onFrame(frame: FirmwareFrame, receivedAt: number, delayed = false): void {
    if (delayed) {
      this.counts.delayed++;
      if (this.options.stamper.robotClock.ready && this.waiting.length === 0) this.take(frame);
      else this.wait(frame);
      return;
    }
    if (this.options.stamper.observe(frame.robotTime, receivedAt)) {
      this.counts.clockSteps++;
      emit('clock', 'warn', 'robot_clock_step', { robotTime: frame.robotTime, receivedAt });
    }
    // A live ack goes on at once, even past frames waiting for a clock estimate: it answers a
    // pending command, which must not time out meanwhile. The durable position stays safe: it
    // never passes an entry before it has settled, whatever order entries are tracked in.
    if (frame.type === 'ack' || this.waiting.length === 0) this.take(frame);
    else this.wait(frame);
  }

  /** A resume catch-up is over: frames waiting for a clock estimate have the best there is. */
  caughtUp(): void {
    this.flush();
  }

  /** The robot's clock may restart with the firmware: estimate it afresh. */
  onReboot(_info: RebootInfo): void {
    this.flush(); // frames of the boot that ended, stamped with its clock
    this.options.stamper.robotClock.reset();
  }

  /** Stamps and spools the frames waiting for a clock estimate (also when the agent stops). */
  flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const frame of waiting) this.take(frame);
  }

  stats() {
    return { ...this.counts, waiting: this.waiting.length };
  }

  private wait(frame: FirmwareFrame): void {
    this.waiting.push(frame);
    if (this.waiting.length >= MAX_WAITING) this.flush();
  }

  private take(frame: FirmwareFrame): void {
    if (frame.type === 'ack') {
      this.counts.acks++;
      this.options.onAck(frame, this.options.position?.trackAck());
      return;
    }
    const settled = this.options.position?.track(frame.bootId, frame.seq);
    if (frame.type === 'sample') this.spool('telemetry', frame, () => this.sample(frame), settled);
    else this.spool('priority', frame, () => this.event(frame), settled);
  }

  private spool(
    cls: SpoolClass,
    frame: SequencedFrame,
    build: () => Uint8Array,
    settled: (() => void) | undefined,
  ): void {
    let payload: Uint8Array;
    try {
      payload = build();
    } catch (e) {
      // The serial codec checked the wire ranges; the cloud schema is stricter in places.
      this.counts.rejected++;
      emit('serial', 'warn', 'frame_rejected', {
        type: frame.type,
        bootId: frame.bootId,
        seq: frame.seq,
        error: errorMessage(e),
      });
      settled?.(); // it will never be spooled: the position may pass it
      return;
    }
    if (cls === 'telemetry') this.counts.samples++;
    else this.counts.events++;
    this.options.spool.write(cls, payload, settled);
  }

  private sample(frame: SerialSampleFrame): Uint8Array {
    const { type: _type, robotTime, ...measured } = frame;
    const sample: TelemetrySample = {
      kind: 'telemetry',
      robotId: this.options.robotId,
      siteId: this.options.siteId,
      eventTime: this.options.stamper.eventTime(robotTime),
      ...measured,
    };
    return encodeMessage(sample);
  }

  private event(frame: SerialEventFrame): Uint8Array {
    const event: RobotEvent = {
      kind: 'robot_event',
      robotId: this.options.robotId,
      bootId: frame.bootId,
      seq: frame.seq,
      eventTime: this.options.stamper.eventTime(frame.robotTime),
      event: frame.body,
    };
    return encodeMessage(event);
  }
}
