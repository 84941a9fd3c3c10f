/**
 * Resume: what the agent does so that frames the firmware sent while nobody held the line open are
 * not lost (a UART keeps nothing for a reader that is not there).
 *
 * Every time the line opens, `opened()` gives the `resume` frame to send (serial frame v1, type
 * 0x05): the boot and next seq after the last frame the agent has, or no position when it has
 * none. Firmware that knows resume then re-sends, byte for byte, what it still holds from there,
 * and goes on live; firmware that does not skips the frame as UNKNOWN_TYPE and just goes on live.
 *
 * The gate sits between the decoder and the rest of the agent and keeps three promises:
 *
 * 1. No frame is handed on twice. A frame of the boot the agent has, at or below the last seq it
 *    has, is a duplicate (a replay of something already taken): dropped and counted. The one
 *    exception, outside a catch-up, is a `boot` event, which then means firmware that restarted
 *    and happened to draw the same boot id (the reader treats it as a reboot).
 *
 * 2. Frames go on in seq order. Live frames may already be on the wire when the resume reaches the
 *    firmware (it answers within a main-loop step, but the agent starts reading at once), so the
 *    replay can arrive after newer frames. During a catch-up (from `opened()` until the stream is
 *    live again) frames are held; at the end, a frame of a boot whose seq is at or below one held
 *    before it marks where the replay began, and the frames held before it that the replay covers
 *    are dropped (they came again in the replay). Firmware that does not replay simply has its
 *    frames released in order a little later.
 *
 * 3. Replayed frames do not feed the robot-clock estimator. A replayed frame carries its original
 *    robotTime but arrives now: its apparent delay d = receivedAt − robotTime is its age, seconds
 *    to minutes, and observed as a clock reading it would shift an estimate that has no live
 *    readings yet (after an agent restart, the replay comes first) and, over a long replay, look
 *    like the robot's clock stepping back. A held frame is `delayed` when a frame of the same boot
 *    received after it shows a smaller d by more than `lateToleranceMs`: it waited somewhere (in the
 *    firmware's replay ring) while that one did not. Such frames are handed on with `delayed` set;
 *    the agent stamps them from the estimate of the live frames and does not observe them. The
 *    catch-up ends once no frame has been found delayed for `holdMs` (and for 1.5 × the robot-time
 *    spacing of the last two frames, so that at a low sample rate a live frame has had time to come,
 *    but never longer than `maxQuietMs`), or after `maxCatchUpMs` whatever happens. These are the
 *    agent's configuration `serial.resume` (config.ts), defaults in RESUME_DEFAULTS.
 *
 * Seqs are compared as plain numbers: a u32 seq wraps after 13.6 years at 10 Hz.
 */
import type { SerialEventFrame, SerialResumeFrame, SerialSampleFrame } from '@fleet/protocol';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { emit } from '../diagnostics.js';

/** Frames that carry a boot's seq. */
export type SequencedFrame = SerialSampleFrame | SerialEventFrame;

/** The last frame of a boot the agent has: the next one it wants is `seq + 1`. */
export interface SerialPosition {
  readonly bootId: number;
  readonly seq: number;
}

/** The agent's configuration `serial.resume` (config.ts) sets these. */
export interface ResumeTuning {
  /** Quiet time (no delayed frame found) that ends a catch-up; default 500 ms. */
  readonly holdMs?: number;
  /** The quiet time scaled up from the sample spacing never exceeds this; default 5000 ms. */
  readonly maxQuietMs?: number;
  /** A frame is delayed when a later one shows a d smaller by more than this; default 100 ms. */
  readonly lateToleranceMs?: number;
  /** A catch-up ends after this long whatever happens; default 30 s. */
  readonly maxCatchUpMs?: number;
  /** Frames held at most; reaching it ends the catch-up; default 8192 (4 × the firmware's ring). */
  readonly maxHeld?: number;
}

export interface ResumeGateOptions extends ResumeTuning {
  readonly clock: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>;
  /** What the agent already has from an earlier run (persisted), if anything. */
  readonly position?: SerialPosition;
  /** Each frame let through, in order; `delayed`: not a clock reading (see 3. above). */
  onFrame(frame: SequencedFrame, receivedAt: number, delayed: boolean): void;
  /**
   * After a catch-up has handed on all it held. Its frames that are clock readings came with it, so
   * the estimate is now as good as it gets for stamping the delayed ones.
   */
  onCaughtUp?(): void;
}

interface Held {
  readonly frame: SequencedFrame;
  readonly receivedAt: number;
  /** receivedAt − robotTime. */
  readonly d: number;
  delayed: boolean;
}

interface CatchUp {
  readonly held: Held[];
  /** Held frames of the newest boot not (yet) found delayed. */
  candidates: Held[];
  readonly startedAt: number;
  /** When a held frame was last found delayed, or the first frame arrived. */
  quietSince: number;
  /** Robot-time spacing of the last two frames of one boot. */
  spacingMs: number;
  timer: TimerHandle | undefined;
}

export const RESUME_DEFAULTS = {
  holdMs: 500,
  maxQuietMs: 5000,
  lateToleranceMs: 100,
  maxCatchUpMs: 30_000,
  maxHeld: 8192,
} as const satisfies Required<ResumeTuning>;

export class ResumeGate {
  private readonly holdMs: number;
  private readonly maxQuietMs: number;
  private readonly toleranceMs: number;
  private readonly maxCatchUpMs: number;
  private readonly maxHeld: number;
  private last: SerialPosition | undefined;
  private catchUp: CatchUp | undefined;
  private readonly counts = { resumesSent: 0, duplicates: 0, delayed: 0, raced: 0, catchUps: 0 };

  constructor(private readonly options: ResumeGateOptions) {
    this.holdMs = options.holdMs ?? RESUME_DEFAULTS.holdMs;
    this.maxQuietMs = Math.max(this.holdMs, options.maxQuietMs ?? RESUME_DEFAULTS.maxQuietMs);
    this.toleranceMs = options.lateToleranceMs ?? RESUME_DEFAULTS.lateToleranceMs;
    this.maxCatchUpMs = options.maxCatchUpMs ?? RESUME_DEFAULTS.maxCatchUpMs;
    this.maxHeld = options.maxHeld ?? RESUME_DEFAULTS.maxHeld;
    this.last = options.position;
  }

  /** The last frame let through (or the persisted position before any). */
  get position(): SerialPosition | undefined {
    return this.last;
  }

  /** Whether frames are being held. */
  get catchingUp(): boolean {
    return this.catchUp !== undefined;
  }

  /**
   * The line (re)opened: releases whatever an earlier catch-up still holds, starts a new one and
   * returns the resume frame to send.
   */
  opened(): SerialResumeFrame {
    this.release('reopened');
    const now = this.options.clock.now();
    const catchUp: CatchUp = {
      held: [],
      candidates: [],
      startedAt: now,
      quietSince: now,
      spacingMs: 0,
      timer: undefined,
    };
    this.catchUp = catchUp;
    this.counts.catchUps++;
    this.counts.resumesSent++;
    this.schedule(catchUp);
    const p = this.last;
    const frame: SerialResumeFrame =
      p === undefined
        ? { type: 'resume' }
        : { type: 'resume', position: { bootId: p.bootId, nextSeq: (p.seq + 1) >>> 0 } };
    emit('serial', 'info', 'serial_resume', { position: frame.position ?? null });
    return frame;
  }

  push(frame: SequencedFrame, receivedAt: number): void {
    const c = this.catchUp;
    if (c === undefined) {
      this.pass(frame, receivedAt, false, true);
      return;
    }
    const held: Held = { frame, receivedAt, d: receivedAt - frame.robotTime, delayed: false };
    const previous = c.held[c.held.length - 1];
    if (c.held.length === 0) c.quietSince = receivedAt;
    if (previous !== undefined && previous.frame.bootId === frame.bootId) {
      c.spacingMs = Math.max(0, frame.robotTime - previous.frame.robotTime);
    } else {
      c.candidates = []; // frames of another boot: their clock is not comparable
    }
    // Every candidate that waited longer than this frame by more than the tolerance was delayed.
    const limit = held.d + this.toleranceMs;
    const still = c.candidates.filter((h) => h.d <= limit);
    if (still.length < c.candidates.length) {
      for (const h of c.candidates) if (h.d > limit) h.delayed = true;
      c.quietSince = receivedAt;
    }
    still.push(held);
    c.candidates = still;
    c.held.push(held);
    if (c.held.length >= this.maxHeld) {
      this.release('max_held');
      return;
    }
    this.schedule(c);
  }

  /** Ends a catch-up now (the agent is stopping): everything held goes on. */
  flush(): void {
    this.release('flush');
  }

  stats() {
    return { ...this.counts, held: this.catchUp?.held.length ?? 0 };
  }

  private schedule(c: CatchUp): void {
    const { clock } = this.options;
    if (c.timer !== undefined) clock.clearTimeout(c.timer);
    const end = c.startedAt + this.maxCatchUpMs;
    // Until the first frame comes (the firmware may be off) there is nothing to wait for but the limit.
    const quietMs = Math.min(this.maxQuietMs, Math.max(this.holdMs, 1.5 * c.spacingMs));
    const due = c.held.length === 0 ? end : Math.min(end, c.quietSince + quietMs);
    c.timer = clock.setTimeout(() => {
      c.timer = undefined;
      if (this.catchUp === c) this.release(clock.now() >= end ? 'max_catch_up' : 'live');
    }, due - clock.now());
  }

  private release(reason: 'live' | 'max_catch_up' | 'max_held' | 'reopened' | 'flush'): void {
    const c = this.catchUp;
    if (c === undefined) return;
    this.catchUp = undefined;
    if (c.timer !== undefined) this.options.clock.clearTimeout(c.timer);
    const kept = this.dropRaced(c.held);
    let delayed = 0;
    let passed = 0;
    for (const h of kept) {
      if (this.pass(h.frame, h.receivedAt, h.delayed, false)) {
        passed++;
        if (h.delayed) delayed++;
      }
    }
    this.counts.delayed += delayed;
    this.options.onCaughtUp?.();
    emit('serial', 'info', 'serial_catch_up_done', {
      reason,
      held: c.held.length,
      passed,
      delayed,
      raced: c.held.length - kept.length,
      position: this.last ?? null,
    });
  }

  /**
   * Where a frame of a boot has a seq at or below one held before it, the replay began there: the
   * frames held before it, of that boot, with seq at or above it came again in the replay.
   */
  private dropRaced(held: readonly Held[]): readonly Held[] {
    const highest = new Map<number, number>();
    let drop: Set<Held> | undefined;
    for (let i = 0; i < held.length; i++) {
      const { frame } = held[i]!;
      const top = highest.get(frame.bootId);
      if (top !== undefined && frame.seq <= top) {
        drop ??= new Set();
        for (let j = 0; j < i; j++) {
          const earlier = held[j]!;
          if (earlier.frame.bootId === frame.bootId && earlier.frame.seq >= frame.seq) drop.add(earlier);
        }
      }
      highest.set(frame.bootId, Math.max(top ?? frame.seq, frame.seq));
    }
    if (drop === undefined) return held;
    this.counts.raced += drop.size;
    return held.filter((h) => !drop.has(h));
  }

  /** Hands `frame` on unless it is a duplicate; returns whether it went on. */
  private pass(frame: SequencedFrame, receivedAt: number, delayed: boolean, live: boolean): boolean {
    const last = this.last;
    if (last !== undefined && frame.bootId === last.bootId && frame.seq <= last.seq) {
      const restarted = live && frame.type === 'event' && frame.body.type === 'boot';
      if (!restarted) {
        this.counts.duplicates++;
        return false;
      }
    }
    this.last = { bootId: frame.bootId, seq: frame.seq };
    this.options.onFrame(frame, receivedAt, delayed);
    return true;
  }
}
