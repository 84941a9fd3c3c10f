/**
 * Timers of one operator, per key, in two time domains. Registering the same (key, domain,
 * timestamp) twice keeps one timer, and a checkpoint holds them as lists of numbers (restored
 * exactly).
 *
 * Firing (driven by the partition task, which knows the watermarks):
 * - an event-time timer at t of key k fires once the key's watermark E(k) > t;
 * - a processing-time timer at t fires once the processing clock >= t;
 * timers due together fire in (timestamp, key, operator) order, so the order never depends on
 * arrival order or hash-map iteration.
 *
 * Layout (resident bytes per key matter: 100k robots per partition):
 * - `nextEvent[i]`: key i's earliest event-time timer (+Infinity: none), in a typed array, so the
 *   per-element check is one compare and a key with one timer costs 8 bytes and no object;
 * - `moreEvent`: the key's other event-time timers, ascending, only for keys that have more than
 *   one (sparse; the window operators keep one timer per key);
 * - processing-time timers: sparse, per key an ascending array (few keys use them).
 */
import { grow } from '../time/keys.js';

export type TimeDomain = 'event' | 'processing';

/** Plain-data form: [key index order] → [key, event-time timers, processing-time timers]. */
export type TimerSnapshot = readonly (readonly [string, readonly number[], readonly number[]])[];

const NONE: readonly number[] = Object.freeze([]);

/** Inserts t into the ascending `list` unless present; returns whether it was added. */
function insertSorted(list: number[], t: number): boolean {
  let j = list.length;
  while (j > 0 && (list[j - 1] as number) > t) j--;
  if (j > 0 && list[j - 1] === t) return false;
  list.splice(j, 0, t);
  return true;
}

export class TimerService {
  /** Earliest event-time timer per key, +Infinity when none: the per-element check is one compare. */
  nextEvent = new Float64Array(0);
  private readonly moreEvent = new Map<number, number[]>();
  private readonly processing = new Map<number, number[]>();
  private eventCount = 0;
  private processingCount = 0;

  ensure(i: number): void {
    if (i < this.nextEvent.length) return;
    this.nextEvent = grow(this.nextEvent, i + 1, Infinity);
  }

  get pendingEvent(): number {
    return this.eventCount;
  }

  get pendingProcessing(): number {
    return this.processingCount;
  }

  /** Earliest processing-time timer of key i, +Infinity when none. */
  nextProcessing(i: number): number {
    const list = this.processing.get(i);
    return list === undefined ? Infinity : (list[0] as number);
  }

  /** Keys that have processing-time timers (unordered). */
  processingKeys(): IterableIterator<number> {
    return this.processing.keys();
  }

  register(domain: TimeDomain, i: number, t: number): void {
    if (!Number.isFinite(t)) throw new RangeError(`timer timestamp must be finite, got ${t}`);
    if (domain === 'processing') {
      const list = this.processing.get(i);
      if (list === undefined) this.processing.set(i, [t]);
      else if (!insertSorted(list, t)) return;
      this.processingCount++;
      return;
    }
    const first = this.nextEvent[i] as number;
    if (first === t) return;
    if (first === Infinity) {
      this.nextEvent[i] = t;
    } else {
      const more = this.moreEvent.get(i);
      if (t < first) {
        this.nextEvent[i] = t;
        if (more === undefined) this.moreEvent.set(i, [first]);
        else more.unshift(first);
      } else if (more === undefined) {
        this.moreEvent.set(i, [t]);
      } else if (!insertSorted(more, t)) return;
    }
    this.eventCount++;
  }

  delete(domain: TimeDomain, i: number, t: number): void {
    if (domain === 'processing') {
      const list = this.processing.get(i);
      if (list === undefined) return;
      const j = list.indexOf(t);
      if (j < 0) return;
      list.splice(j, 1);
      if (list.length === 0) this.processing.delete(i);
      this.processingCount--;
      return;
    }
    if (this.nextEvent[i] === t) {
      this.popEvent(i);
      return;
    }
    const more = this.moreEvent.get(i);
    if (more === undefined) return;
    const j = more.indexOf(t);
    if (j < 0) return;
    more.splice(j, 1);
    if (more.length === 0) this.moreEvent.delete(i);
    this.eventCount--;
  }

  /** Removes and returns the earliest timer of key `i` in `domain` (call only when one is due). */
  pop(domain: TimeDomain, i: number): number {
    if (domain === 'event') return this.popEvent(i);
    const list = this.processing.get(i) as number[];
    const t = list.shift() as number;
    if (list.length === 0) this.processing.delete(i);
    this.processingCount--;
    return t;
  }

  private popEvent(i: number): number {
    const t = this.nextEvent[i] as number;
    const more = this.moreEvent.get(i);
    if (more === undefined) this.nextEvent[i] = Infinity;
    else {
      this.nextEvent[i] = more.shift() as number;
      if (more.length === 0) this.moreEvent.delete(i);
    }
    this.eventCount--;
    return t;
  }

  /** Timers of key `i` (for tests and introspection), ascending. */
  list(domain: TimeDomain, i: number): readonly number[] {
    if (domain === 'processing') return this.processing.get(i) ?? NONE;
    const first = this.nextEvent[i];
    if (first === undefined || first === Infinity) return NONE;
    return [first, ...(this.moreEvent.get(i) ?? NONE)];
  }

  snapshot(names: readonly string[]): TimerSnapshot {
    const out: [string, number[], number[]][] = [];
    const n = names.length;
    for (let i = 0; i < n; i++) {
      const first = i < this.nextEvent.length ? (this.nextEvent[i] as number) : Infinity;
      const p = this.processing.get(i);
      if (first === Infinity && p === undefined) continue;
      const more = this.moreEvent.get(i);
      const e = first === Infinity ? [] : more === undefined ? [first] : [first, ...more];
      out.push([names[i] as string, e, p ? [...p] : []]);
    }
    return out;
  }

  restore(s: TimerSnapshot, indexOf: (key: string) => number): void {
    for (const [key, event, processing] of s) {
      const i = indexOf(key);
      this.ensure(i);
      for (const t of event) this.register('event', i, t);
      for (const t of processing) this.register('processing', i, t);
    }
  }
}
