/**
 * The firmware's replay ring: the last frames of the current boot it sent up the line (samples,
 * events and command acks), kept so that an agent that (re)opens the line can ask for what it
 * missed with a `resume` frame (serial frame v1, type 0x05) — a UART loses every byte sent while
 * nobody listens.
 *
 * Bound: DEFAULT_REPLAY_CAPACITY = 2048 frames, the MCU's RAM budget for it. At 10 Hz that is the
 * last 204.8 s; held as encoded bodies it is 2048 × 48 B = 96 KiB of samples (an event body is
 * 21..143 B, an ack 12..270 B, and both are rare enough to share the budget). A boot starts with an
 * empty ring; when it is full the oldest frame goes, for good: an agent that asks for it gets the
 * oldest frame still held and sees the seq gap.
 *
 * Where a frame is in the stream: a sample or event by its seq; an ack, which carries no seq, by
 * the seq of the next sample or event to come after it (`nextSeq`). A resume from seq N re-sends
 * every held frame whose place is N or later, in the order they were first sent: the samples and
 * events with seq >= N, and the acks sent after seq N − 1 went out. An agent's position covers the
 * acks that came before its last frame (it moves past an ack only once the ack is spooled), so the
 * acks it may lack are exactly those; an ack it already had comes again as a duplicate (the agent
 * drops a byte-identical one it remembers; downstream, QoS 1 duplicates are expected anyway).
 *
 * The ring is also the transmit queue of a replay: `pending` counts the newest frames still to go
 * out, oldest first. Frames emitted while a replay is under way queue behind them, so the line
 * carries every frame in order.
 */
import type { SerialAckFrame, SerialEventFrame, SerialSampleFrame } from '@fleet/protocol';

export const DEFAULT_REPLAY_CAPACITY = 2048;

/** The frames that share a boot's seq. */
export type SequencedFrame = SerialSampleFrame | SerialEventFrame;

/** What the ring holds. */
export type HeldFrame = SequencedFrame | SerialAckFrame;

interface Slot {
  readonly frame: HeldFrame;
  /** Its place in the stream: the seq of a sample or event; for an ack, the next seq to come. */
  readonly place: number;
  /** Sent at least once (a later send is a replay). */
  sent: boolean;
}

export class ReplayRing {
  private readonly slots: (Slot | undefined)[];
  /** Slot of the oldest frame held. */
  private head = 0;
  private count = 0;
  private pendingCount = 0;

  constructor(readonly capacity = DEFAULT_REPLAY_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`replay capacity ${capacity}`);
    this.slots = new Array<Slot | undefined>(capacity);
  }

  /** Frames held. */
  get size(): number {
    return this.count;
  }

  /** Frames still to be (re)sent, the newest `pending` of those held. */
  get pending(): number {
    return this.pendingCount;
  }

  /** The oldest sample or event held. */
  get oldest(): SequencedFrame | undefined {
    for (let i = 0; i < this.count; i++) {
      const frame = this.at(i).frame;
      if (frame.type !== 'ack') return frame;
    }
    return undefined;
  }

  /** Forgets everything (a new boot). */
  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.pendingCount = 0;
  }

  /**
   * Keeps `frame`, evicting the oldest when full; `nextSeq` places an ack (the seq the next sample
   * or event will get). Returns true when it was queued behind a replay under way (the caller must
   * not send it now, `next()` will hand it out), false when the caller sends it at once.
   */
  push(frame: SequencedFrame): boolean;
  push(frame: SerialAckFrame, nextSeq: number): boolean;
  push(frame: HeldFrame, nextSeq?: number): boolean {
    const queued = this.pendingCount > 0;
    if (this.count === this.capacity) {
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      // A pending frame evicted before it went out is lost, as any evicted frame.
      this.pendingCount = Math.min(this.pendingCount, this.count);
    }
    const place = frame.type === 'ack' ? (nextSeq ?? 0) : frame.seq;
    this.slots[(this.head + this.count) % this.capacity] = { frame, place, sent: !queued };
    this.count++;
    if (queued) this.pendingCount++;
    return queued;
  }

  /**
   * Makes every held frame whose place is `fromSeq` or later pending (all of them when `fromSeq` is
   * undefined), replacing any replay under way; returns how many. Places increase along the ring.
   */
  rewind(fromSeq: number | undefined): number {
    let n = this.count;
    if (fromSeq !== undefined) {
      let lo = 0;
      let hi = this.count;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.at(mid).place < fromSeq) lo = mid + 1;
        else hi = mid;
      }
      n = this.count - lo;
    }
    this.pendingCount = n;
    return n;
  }

  /** Takes the oldest pending frame, and whether it went out before; undefined when none is pending. */
  next(): { readonly frame: HeldFrame; readonly again: boolean } | undefined {
    if (this.pendingCount === 0) return undefined;
    const slot = this.at(this.count - this.pendingCount);
    this.pendingCount--;
    const again = slot.sent;
    slot.sent = true;
    return { frame: slot.frame, again };
  }

  private at(i: number): Slot {
    const slot = this.slots[(this.head + i) % this.capacity];
    if (slot === undefined) throw new Error(`replay ring slot ${i} of ${this.count} is empty`);
    return slot;
  }
}
