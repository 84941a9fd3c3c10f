/**
 * The last (bootId, seq) the agent has durably spooled, for the `resume` it sends when it opens the
 * serial line after a restart.
 *
 * Frames are handed to the spool writer in seq order but land in two spool classes (samples in
 * telemetry, events in priority) whose group commits finish independently. The position is the
 * last frame of the longest prefix, in hand-off order, whose every frame has settled: appended, or
 * dropped for good by the spool's stated policy (full; refused by the cloud schema). So every frame
 * at or before it is either in the spool or never will be, and asking the firmware for what comes
 * after it can never skip a frame that is still on its way to the disk.
 */
import type { SerialPosition } from '../serial/resume.js';

interface Entry {
  /** Undefined for a command ack: it has no seq, but the position may not pass it unsettled. */
  readonly position: SerialPosition | undefined;
  settled: boolean;
}

export class DurablePosition {
  private readonly queue: Entry[] = [];
  /** Index of the first entry not yet popped (the queue is compacted now and then). */
  private head = 0;
  private current: SerialPosition | undefined;

  /** `onAdvance` is called with each new position, as it moves on. */
  constructor(
    initial: SerialPosition | undefined,
    private readonly onAdvance: (position: SerialPosition) => void,
  ) {
    this.current = initial;
  }

  get position(): SerialPosition | undefined {
    return this.current;
  }

  /** Frames handed on and not yet settled. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** A frame goes to the spool; call the returned function once it has settled there. */
  track(bootId: number, seq: number): () => void {
    return this.push({ position: { bootId, seq }, settled: false });
  }

  /**
   * A firmware ack goes to the spool. It has no seq, so it never becomes the position itself, but
   * the position does not move past a frame handed on after it until it has settled: the firmware
   * places an ack before the next seq (firmware-sim replay.ts), and a resume from the position
   * then asks for it again if it was not spooled.
   */
  trackAck(): () => void {
    return this.push({ position: undefined, settled: false });
  }

  private push(entry: Entry): () => void {
    this.queue.push(entry);
    return () => {
      if (entry.settled) return;
      entry.settled = true;
      this.advance();
    };
  }

  private advance(): void {
    let moved: SerialPosition | undefined;
    while (this.head < this.queue.length && this.queue[this.head]!.settled) {
      moved = this.queue[this.head]!.position ?? moved;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (moved === undefined) return;
    this.current = moved;
    this.onAdvance(moved);
  }
}
