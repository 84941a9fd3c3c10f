/**
 * Timers of one operator, per key, in two time domains. Plain data: per key a sorted, duplicate-free
 * array of timestamps per domain, so registering the same (key, domain, timestamp) twice keeps one
 * timer, and a checkpoint holds them as lists of numbers (restored exactly).
 *
 * Firing (driven by the partition task, which knows the watermarks):
 * - an event-time timer at t of key k fires once the key's watermark E(k) > t;
 * - a processing-time timer at t fires once the processing clock >= t;
 * timers due together fire in (timestamp, key, operator) order, so the order never depends on
 * arrival order or hash-map iteration.
 */
import { grow } from '../time/keys.js';

export type TimeDomain = 'event' | 'processing';

/** Plain-data form: [key index order] → [key, event-time timers, processing-time timers]. */
export type TimerSnapshot = readonly (readonly [string, readonly number[], readonly number[]])[];

export class TimerService {
  private readonly et: (number[] | undefined)[] = [];
  private readonly pt: (number[] | undefined)[] = [];
  /** Earliest event-time timer per key, +Infinity when none: the per-element check is one compare. */
  nextEvent = new Float64Array(0);
  nextProcessing = new Float64Array(0);
  private eventCount = 0;
  private processingCount = 0;

  ensure(i: number): void {
    if (i < this.nextEvent.length) return;
    this.nextEvent = grow(this.nextEvent, i + 1, Infinity);
    this.nextProcessing = grow(this.nextProcessing, i + 1, Infinity);
  }

  get pendingEvent(): number {
    return this.eventCount;
  }

  get pendingProcessing(): number {
    return this.processingCount;
  }

  register(domain: TimeDomain, i: number, t: number): void {
    if (!Number.isFinite(t)) throw new RangeError(`timer timestamp must be finite, got ${t}`);
    const lists = domain === 'event' ? this.et : this.pt;
    const list = lists[i];
    if (list === undefined) {
      lists[i] = [t];
    } else {
      // Few timers per key: a linear sorted insert beats any tree.
      let j = list.length;
      while (j > 0 && (list[j - 1] as number) > t) j--;
      if (j > 0 && list[j - 1] === t) return;
      list.splice(j, 0, t);
    }
    if (domain === 'event') {
      this.eventCount++;
      if (t < (this.nextEvent[i] as number)) this.nextEvent[i] = t;
    } else {
      this.processingCount++;
      if (t < (this.nextProcessing[i] as number)) this.nextProcessing[i] = t;
    }
  }

  delete(domain: TimeDomain, i: number, t: number): void {
    const lists = domain === 'event' ? this.et : this.pt;
    const list = lists[i];
    if (list === undefined) return;
    const j = list.indexOf(t);
    if (j < 0) return;
    list.splice(j, 1);
    const next = list.length === 0 ? Infinity : (list[0] as number);
    if (list.length === 0) lists[i] = undefined;
    if (domain === 'event') {
      this.eventCount--;
      this.nextEvent[i] = next;
    } else {
      this.processingCount--;
      this.nextProcessing[i] = next;
    }
  }

  /** Removes and returns the earliest timer of key `i` in `domain` (call only when one is due). */
  pop(domain: TimeDomain, i: number): number {
    const lists = domain === 'event' ? this.et : this.pt;
    const list = lists[i] as number[];
    const t = list.shift() as number;
    const next = list.length === 0 ? Infinity : (list[0] as number);
    if (list.length === 0) lists[i] = undefined;
    if (domain === 'event') {
      this.eventCount--;
      this.nextEvent[i] = next;
    } else {
      this.processingCount--;
      this.nextProcessing[i] = next;
    }
    return t;
  }

  /** Timers of key `i` (for tests and introspection), ascending. */
  list(domain: TimeDomain, i: number): readonly number[] {
    return (domain === 'event' ? this.et : this.pt)[i] ?? [];
  }

  snapshot(names: readonly string[]): TimerSnapshot {
    const out: [string, number[], number[]][] = [];
    const n = Math.max(this.et.length, this.pt.length);
    for (let i = 0; i < n; i++) {
      const e = this.et[i];
      const p = this.pt[i];
      if (e === undefined && p === undefined) continue;
      out.push([names[i] as string, e ? [...e] : [], p ? [...p] : []]);
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
