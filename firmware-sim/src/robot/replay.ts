/**
 * The firmware's replay ring: the last frames of the current boot that carry a seq (samples and
 * events), kept so that an agent that (re)opens the line can ask for what it missed with a `resume`
 * frame (serial frame v1, type 0x05) — a UART loses every byte sent while nobody listens.
 *
 * Bound: DEFAULT_REPLAY_CAPACITY = 2048 frames, the MCU's RAM budget for it. At 10 Hz that is the
 * last 204.8 s; held as encoded bodies it is 2048 × 48 B = 96 KiB of samples (an event body is
 * 21..143 B, and events are rare enough to share the budget). A boot starts with an empty ring;
 * when it is full the oldest frame goes, for good: an agent that asks for it gets the oldest frame
 * still held and sees the seq gap.
 *
 * The ring is also the transmit queue of a replay: `pending` counts the newest frames still to go
 * out, oldest first. Frames emitted while a replay is under way queue behind it, so the line
 * carries every seq in order. Acks carry no seq and are neither held nor replayed.
 */
import type { SerialEventFrame, SerialSampleFrame } from '@fleet/protocol';

export const DEFAULT_REPLAY_CAPACITY = 2048;

/** The frames that share a boot's seq. */
export type SequencedFrame = SerialSampleFrame | SerialEventFrame;

export class ReplayRing {
  private readonly slots: (SequencedFrame | undefined)[];
  /** Slot of the oldest frame held. */
  private head = 0;
  private count = 0;
  private pendingCount = 0;

  constructor(readonly capacity = DEFAULT_REPLAY_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`replay capacity ${capacity}`);
    this.slots = new Array<SequencedFrame | undefined>(capacity);
  }

  /** Frames held. */
  get size(): number {
    return this.count;
  }

  /** Frames still to be (re)sent, the newest `pending` of those held. */
  get pending(): number {
    return this.pendingCount;
  }

  /** The oldest frame held. */
  get oldest(): SequencedFrame | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  /** Forgets everything (a new boot). */
  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.pendingCount = 0;
  }

  /**
   * Keeps `frame`, evicting the oldest when full. Returns true when it was queued behind a replay
   * under way (the caller must not send it now), false when the caller sends it at once.
   */
  push(frame: SequencedFrame): boolean {
    const queued = this.pendingCount > 0;
    if (this.count === this.capacity) {
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      // A pending frame evicted before it went out is lost, as any evicted frame.
      this.pendingCount = Math.min(this.pendingCount, this.count);
    }
    this.slots[(this.head + this.count) % this.capacity] = frame;
    this.count++;
    if (queued) this.pendingCount++;
    return queued;
  }

  /**
   * Makes every held frame with seq >= `fromSeq` pending (all of them when `fromSeq` is undefined),
   * replacing any replay under way; returns how many. Seqs increase along the ring.
   */
  rewind(fromSeq: number | undefined): number {
    let n = this.count;
    if (fromSeq !== undefined) {
      // Frames are in seq order: find the first one at or after fromSeq.
      let lo = 0;
      let hi = this.count;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.at(mid).seq < fromSeq) lo = mid + 1;
        else hi = mid;
      }
      n = this.count - lo;
    }
    this.pendingCount = n;
    return n;
  }

  /** Takes the oldest pending frame; undefined when none is pending. */
  next(): SequencedFrame | undefined {
    if (this.pendingCount === 0) return undefined;
    const frame = this.at(this.count - this.pendingCount);
    this.pendingCount--;
    return frame;
  }

  private at(i: number): SequencedFrame {
    const frame = this.slots[(this.head + i) % this.capacity];
    if (frame === undefined) throw new Error(`replay ring slot ${i} of ${this.count} is empty`);
    return frame;
  }
}
