/**
 * Watermarks per key and per partition (README, "Semantics" has the rules with their reasons).
 *
 * Convention: a watermark W says "every element with eventTime < W has arrived"; an element with
 * eventTime < W is LATE, and an event-time timer at t fires once W > t.
 *
 * Per key k (all figures in typed arrays indexed by the KeyTable index):
 *   own(k)  = max over time of (max eventTime seen for k) - outOfOrderness         (monotone)
 *   E(k)    = max(own(k), P)   for an ATTACHED key;   own(k) for a DETACHED one    (the key's watermark)
 * Partition watermark P (recomputed by `advance(now)`, never decreasing):
 *   P = max(P, min over ACTIVE keys of own(k))           if some key is active,
 *   P = max(P, now - idleTimeout - outOfOrderness)       otherwise (idle partition).
 * ACTIVE = attached, not known offline, and an element arrived within idleTimeout (processing time).
 * DETACHED = known offline (presence), or back online but still replaying its backlog: the key lives
 * in its own event time and neither holds P back nor is pushed by it. It re-attaches when own(k)
 * catches up with P, when it is online and silent for idleTimeout, or after offlineHold offline.
 */
import { NO_TIME, type EventTimeConfig } from './config.js';
import { grow, type KeyTable } from './keys.js';

const SEEN = 1;
const OFFLINE = 2;
const DETACHED = 4;

/** Where an element stands against its key's watermark. */
export const Lateness = { onTime: 0, withinLateness: 1, beyondLateness: 2 } as const;
export type Lateness = (typeof Lateness)[keyof typeof Lateness];

/** Plain-data form of the tracker, for checkpoints (JSON-safe). */
export interface WatermarkSnapshot {
  readonly partitionWatermark: number;
  /** Processing time of the checkpoint: ages below are relative to it. */
  readonly processingTime: number;
  /** Per key, in KeyTable order: [key, maxEventTime, ownWatermark, flags, msSinceLastElement, msOffline]. */
  readonly keys: readonly (readonly [string, number, number, number, number, number])[];
}

export class WatermarkTracker {
  private maxTs = new Float64Array(0);
  private own = new Float64Array(0);
  private lastSeen = new Float64Array(0);
  /** Processing time a key went offline; sparse (few keys are offline at once). */
  private readonly offlineSince = new Map<number, number>();
  private flags = new Uint8Array(0);
  private p = NO_TIME;

  constructor(
    private readonly keys: KeyTable,
    private readonly config: EventTimeConfig,
  ) {}

  /** The partition watermark P. */
  get partition(): number {
    return this.p;
  }

  /** Makes room for key index `i` (call after `KeyTable.intern`). */
  ensure(i: number): void {
    if (i < this.flags.length) return;
    const n = i + 1;
    this.maxTs = grow(this.maxTs, n, NO_TIME);
    this.own = grow(this.own, n, NO_TIME);
    this.lastSeen = grow(this.lastSeen, n, 0);
    this.flags = grow(this.flags, n, 0);
  }

  /** E(k): the watermark that decides lateness and event-time timers of key `i`. */
  effective(i: number): number {
    const own = this.own[i] as number;
    return (this.flags[i] as number) & DETACHED ? own : own > this.p ? own : this.p;
  }

  isDetached(i: number): boolean {
    return ((this.flags[i] as number) & DETACHED) !== 0;
  }

  isOffline(i: number): boolean {
    return ((this.flags[i] as number) & OFFLINE) !== 0;
  }

  classify(i: number, eventTime: number): Lateness {
    const e = this.effective(i);
    if (eventTime >= e) return Lateness.onTime;
    return eventTime >= e - this.config.allowedLatenessMs ? Lateness.withinLateness : Lateness.beyondLateness;
  }

  /** Records an element of key `i` (after it was processed): the key's own watermark may advance. */
  observe(i: number, eventTime: number, now: number): void {
    let f = (this.flags[i] as number) | SEEN;
    this.lastSeen[i] = now;
    if (eventTime > (this.maxTs[i] as number)) {
      this.maxTs[i] = eventTime;
      const w = eventTime - this.config.outOfOrdernessMs;
      if (w > (this.own[i] as number)) this.own[i] = w;
    }
    // A replaying key re-attaches once it has caught up with the partition.
    if (f & DETACHED && (this.own[i] as number) >= this.p) f &= ~DETACHED;
    this.flags[i] = f;
  }

  /** Presence says the key went offline: freeze its watermark and stop it holding back others. */
  markOffline(i: number, now: number): void {
    const f = this.flags[i] as number;
    if (f & OFFLINE) return;
    this.own[i] = this.effective(i);
    this.offlineSince.set(i, now);
    this.flags[i] = f | OFFLINE | DETACHED;
  }

  /** Presence says the key is back: it stays detached while it replays its backlog. */
  markOnline(i: number, now: number): void {
    const f = this.flags[i] as number;
    if (!(f & OFFLINE)) return;
    this.flags[i] = f & ~OFFLINE;
    this.offlineSince.delete(i);
    // The backlog is expected within idleTimeout of reconnecting; the silence clock starts now.
    this.lastSeen[i] = now;
  }

  /**
   * Re-evaluates idleness and offline holds at processing time `now` and recomputes P.
   * Returns true when P or any key's attachment changed (timers may be due).
   */
  advance(now: number): boolean {
    const { idleTimeoutMs, offlineHoldMs, outOfOrdernessMs } = this.config;
    const n = this.keys.size;
    let min = Infinity;
    let changed = false;
    for (let i = 0; i < n; i++) {
      let f = this.flags[i] as number;
      if (f & DETACHED) {
        const release =
          f & OFFLINE
            ? now - (this.offlineSince.get(i) ?? now) >= offlineHoldMs
            : now - (this.lastSeen[i] as number) >= idleTimeoutMs;
        if (!release) continue;
        if (f & OFFLINE) this.offlineSince.delete(i);
        f &= ~(OFFLINE | DETACHED);
        this.flags[i] = f;
        changed = true;
      }
      if (f & OFFLINE) {
        // Caught up before presence said online; the hold still ends.
        if (now - (this.offlineSince.get(i) ?? now) >= offlineHoldMs) {
          this.flags[i] = f & ~OFFLINE;
          this.offlineSince.delete(i);
        }
        continue;
      }
      if (!(f & SEEN) || now - (this.lastSeen[i] as number) >= idleTimeoutMs) continue;
      const own = this.own[i] as number;
      if (own < min) min = own;
    }
    const candidate = min === Infinity ? now - idleTimeoutMs - outOfOrdernessMs : min;
    if (candidate > this.p) {
      this.p = candidate;
      changed = true;
    }
    return changed;
  }

  counts(now: number): { active: number; idle: number; offline: number; detached: number } {
    let active = 0;
    let idle = 0;
    let offline = 0;
    let detached = 0;
    for (let i = 0; i < this.keys.size; i++) {
      const f = this.flags[i] as number;
      if (f & OFFLINE) offline++;
      if (f & DETACHED) detached++;
      if (f & (OFFLINE | DETACHED)) continue;
      if (f & SEEN && now - (this.lastSeen[i] as number) < this.config.idleTimeoutMs) active++;
      else idle++;
    }
    return { active, idle, offline, detached };
  }

  snapshot(now: number): WatermarkSnapshot {
    const keys: [string, number, number, number, number, number][] = [];
    for (let i = 0; i < this.keys.size; i++) {
      const f = this.flags[i] as number;
      keys.push([
        this.keys.name(i),
        this.maxTs[i] as number,
        this.own[i] as number,
        f,
        now - (this.lastSeen[i] as number),
        f & OFFLINE ? now - (this.offlineSince.get(i) ?? now) : 0,
      ]);
    }
    return { partitionWatermark: this.p, processingTime: now, keys };
  }

  /**
   * Loads a snapshot into this (empty) tracker. Processing-time ages are kept relative to `now`,
   * so the time between checkpoint and restore (a failover) does not make every key idle.
   */
  restore(s: WatermarkSnapshot, now: number): void {
    this.p = s.partitionWatermark;
    for (const [key, maxTs, own, flags, sinceSeen, offlineFor] of s.keys) {
      const i = this.keys.intern(key);
      this.ensure(i);
      this.maxTs[i] = maxTs;
      this.own[i] = own;
      this.flags[i] = flags;
      this.lastSeen[i] = now - sinceSeen;
      if (flags & OFFLINE) this.offlineSince.set(i, now - offlineFor);
    }
  }
}
