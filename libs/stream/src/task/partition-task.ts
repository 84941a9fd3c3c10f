/**
 * The partition task: the unit the runtime drives, one per (job, partition = key group).
 *
 *   runtime loop:  task.process(records)        records of all input topics, in arrival order
 *                  task.onBroadcast(change)     after the shared BroadcastStore applied a record
 *                  task.onProcessingTime()      periodically (processing-time timers, idleness)
 *                  task.checkpoint()            state changes + outputs + offsets + task state
 *   on assignment: task.restore(point)          into a fresh task, then seek to point.offsets
 *
 * Everything here is synchronous; with a durable state backend the runtime awaits
 * `state.prefetch(keys)` before `process` (see the README for what is not prefetched yet).
 */
import type { KeyGroupState, StateChange } from '@fleet/state';
import { BroadcastStore, type BroadcastChange } from '../broadcast/state.js';
import { NAME_PATTERN, StreamError } from '../errors.js';
import type { InputSink, Job, TaskRecord } from '../job.js';
import type { KeyedProcessFunction, OperatorStore } from '../operators/api.js';
import { OperatorContext } from '../operators/context.js';
import { eventTimeConfig, type EventTimeConfig, type EventTimeOptions } from '../time/config.js';
import { KeyTable } from '../time/keys.js';
import { Lateness, WatermarkTracker, type WatermarkSnapshot } from '../time/watermarks.js';
import { Heap } from '../timers/heap.js';
import { TimerService, type TimeDomain, type TimerSnapshot } from '../timers/timer-service.js';
import type { LateOutput, LateReason, TaskOutput } from './outputs.js';

/** The processing clock (wall clock in production, simulated in tests). */
export interface Clock {
  now(): number;
}

export interface PartitionTaskOptions extends EventTimeOptions {
  readonly partition: number;
  /** This partition's key group, opened from the job's backend. */
  readonly state: KeyGroupState;
  readonly clock: Clock;
  /**
   * The job's broadcast states, shared by the process's tasks and applied by their owner (the
   * instance, the test driver). Default: an empty store of the job's `broadcast` descriptors.
   */
  readonly broadcast?: BroadcastStore;
}

/** JSON-safe task state stored with each checkpoint (replaced whole, not incremental). */
export interface TaskStateSnapshot {
  readonly version: 1;
  readonly job: string;
  readonly partition: number;
  readonly watermarks: WatermarkSnapshot;
  /** Per operator name. */
  readonly timers: Readonly<Record<string, TimerSnapshot>>;
  readonly counters: TaskCounters;
}

export interface TaskCounters {
  readonly elements: number;
  readonly lateWithinLateness: number;
  readonly late: Readonly<Record<LateReason, number>>;
}

export interface TaskCheckpoint {
  readonly job: string;
  readonly partition: number;
  /** Incremental: entries written or deleted since the previous checkpoint. */
  readonly stateChanges: StateChange[];
  /** Everything emitted since the previous checkpoint, in emission order. */
  readonly outputs: TaskOutput[];
  /** Per input topic, the offset to resume at (last processed + 1). Only topics seen so far. */
  readonly offsets: Readonly<Record<string, bigint>>;
  readonly taskState: TaskStateSnapshot;
}

/** What a fresh task restores from: the merged state entries of all checkpoints, and the last one's rest. */
export interface RestorePoint {
  readonly entries: Iterable<StateChange>;
  readonly taskState: TaskStateSnapshot;
  readonly offsets: Readonly<Record<string, bigint>>;
}

export interface TaskMetrics {
  readonly job: string;
  readonly partition: number;
  /** The partition watermark P. */
  readonly watermark: number;
  readonly processingTime: number;
  readonly keys: number;
  readonly activeKeys: number;
  readonly idleKeys: number;
  readonly offlineKeys: number;
  /** Keys living in their own event time (offline, or replaying a backlog). */
  readonly detachedKeys: number;
  readonly elements: number;
  readonly lateWithinLateness: number;
  readonly late: Readonly<Record<LateReason, number>>;
  readonly pendingTimers: { readonly event: number; readonly processing: number };
  readonly stateMemoryBytes: number;
  /** Outputs waiting for the next checkpoint. */
  readonly pendingOutputs: number;
  readonly offsets: Readonly<Record<string, bigint>>;
}

interface Slot {
  readonly name: string;
  readonly fn: KeyedProcessFunction<unknown, unknown>;
  readonly store: OperatorStore | undefined;
  readonly timers: TimerService;
  readonly ctx: OperatorContext;
}

interface Due {
  readonly t: number;
  readonly i: number;
  readonly op: number;
  readonly key: string;
}

const dueLess = (a: Due, b: Due): boolean =>
  a.t !== b.t ? a.t < b.t : a.key !== b.key ? a.key < b.key : a.op < b.op;

export class PartitionTask<E> implements InputSink<E> {
  readonly config: EventTimeConfig;
  readonly partition: number;
  private readonly keys = new KeyTable();
  private readonly watermarks: WatermarkTracker;
  private readonly slots: Slot[];
  private readonly state: KeyGroupState;
  private readonly clock: Clock;
  private outputs: TaskOutput[] = [];
  private readonly offsets = new Map<string, bigint>();
  private now: number;
  private record: TaskRecord | undefined;
  private elementInRecord = 0;
  private elements = 0;
  private lateWithin = 0;
  private readonly late: Record<LateReason, number> = { beyond_allowed_lateness: 0, invalid_event_time: 0 };
  private used = false;

  constructor(
    readonly job: Job<E>,
    options: PartitionTaskOptions,
  ) {
    if (!NAME_PATTERN.test(job.name))
      throw new StreamError('BAD_NAME', `job name ${JSON.stringify(job.name)}`);
    this.config = eventTimeConfig(options);
    this.partition = options.partition;
    this.state = options.state;
    this.clock = options.clock;
    this.now = this.clock.now();
    this.watermarks = new WatermarkTracker(this.keys, this.config);
    const broadcasts = options.broadcast ?? new BroadcastStore(job.broadcast ?? []);
    for (const d of job.broadcast ?? []) {
      if (!broadcasts.declares(d))
        throw new StreamError('BAD_CONFIG', `the task's broadcast store lacks ${d.name} (${d.topic})`);
    }
    const names = new Set<string>();
    this.slots = job.operators.map((op) => {
      if (!NAME_PATTERN.test(op.name))
        throw new StreamError('BAD_NAME', `operator name ${JSON.stringify(op.name)}`);
      if (names.has(op.name)) throw new StreamError('BAD_NAME', `two operators named ${op.name}`);
      names.add(op.name);
      const timers = new TimerService();
      const instance = op.instantiate?.();
      return {
        name: op.name,
        fn: (instance?.fn ?? op.fn) as KeyedProcessFunction<unknown, unknown>,
        store: instance?.store,
        timers,
        ctx: new OperatorContext(
          job.name,
          op.name,
          this.config.allowedLatenessMs,
          this.state,
          timers,
          this.outputs,
          broadcasts,
        ),
      };
    });
  }

  /** The partition watermark P. */
  get watermark(): number {
    return this.watermarks.partition;
  }

  /** The watermark E(key) that decides the key's lateness and event-time timers. */
  keyWatermark(key: string): number | undefined {
    const i = this.keys.find(key);
    return i === undefined ? undefined : this.watermarks.effective(i);
  }

  /** Processes records (any mix of input topics) in the order given. */
  process(records: readonly TaskRecord[]): void {
    this.used = true;
    this.tick();
    for (const record of records) {
      this.record = record;
      this.elementInRecord = 0;
      this.job.read(record, this);
      this.offsets.set(record.topic, record.offset + 1n);
    }
    this.record = undefined;
    this.advanceWatermark();
  }

  /** Fires due processing-time timers, then re-evaluates idleness and the partition watermark. */
  onProcessingTime(now: number = this.clock.now()): void {
    this.used = true;
    if (now > this.now) this.now = now;
    this.fireProcessingTimers();
    this.advanceWatermark();
  }

  /**
   * Runs the operators' `onBroadcast` for a change the shared store has applied, as the change's
   * key, if this task has seen that key (otherwise nothing: there is no state of it here).
   */
  onBroadcast(change: BroadcastChange): void {
    const i = this.keys.find(change.key);
    if (i === undefined) return;
    this.tick();
    const key = this.keys.name(i);
    const e = this.watermarks.effective(i);
    this.state.setTime(e);
    const slots = this.slots;
    for (let s = 0; s < slots.length; s++) {
      const slot = slots[s] as Slot;
      if (slot.fn.onBroadcast === undefined) continue;
      slot.ctx.forBroadcast(i, key, change.timestamp, e, this.now);
      slot.fn.onBroadcast(change, slot.ctx);
    }
    // An event-time timer the hook registered behind the key's watermark is due now.
    this.fireKeyEventTimers(i);
  }

  // --- InputSink (called by job.read) ----------------------------------------------------------

  element(key: string, eventTime: number, value: E): void {
    const n = this.elementInRecord++;
    const i = this.intern(key);
    // The task's own copy of the key string: every record decodes a new one, and state, outputs
    // and stores then share this one instead of each keeping the first they saw.
    key = this.keys.name(i);
    const w = this.watermarks;
    if (!Number.isSafeInteger(eventTime)) {
      this.lateOutput('invalid_event_time', key, eventTime, w.effective(i), value, n);
      return;
    }
    const lateness = w.classify(i, eventTime);
    if (lateness === Lateness.beyondLateness) {
      this.lateOutput('beyond_allowed_lateness', key, eventTime, w.effective(i), value, n);
      w.observe(i, eventTime, this.now);
      return;
    }
    this.elements++;
    const late = lateness === Lateness.withinLateness;
    if (late) this.lateWithin++;
    const watermark = w.effective(i);
    this.state.setTime(eventTime);
    const slots = this.slots;
    for (let s = 0; s < slots.length; s++) {
      const slot = slots[s] as Slot;
      slot.ctx.forElement(i, key, eventTime, watermark, late, this.now);
      slot.fn.processElement(value, slot.ctx);
    }
    w.observe(i, eventTime, this.now);
    this.fireKeyEventTimers(i);
  }

  presence(key: string, online: boolean): void {
    if (online) this.markOnline(key);
    else this.markOffline(key);
  }

  /** The key is known offline: it no longer holds back the partition watermark; its windows wait. */
  markOffline(key: string): void {
    this.watermarks.markOffline(this.intern(key), this.now);
  }

  /** The key is back online: it replays its backlog in its own event time, then rejoins. */
  markOnline(key: string): void {
    this.watermarks.markOnline(this.intern(key), this.now);
  }

  // --- checkpoints -----------------------------------------------------------------------------

  checkpoint(): TaskCheckpoint {
    this.state.expire(this.watermarks.partition);
    const outputs = this.outputs.splice(0);
    const stateChanges = this.state.takeChanges();
    for (const slot of this.slots) {
      if (slot.store === undefined) continue;
      for (const c of slot.store.takeChanges(this.keys.names)) stateChanges.push(c);
    }
    return {
      job: this.job.name,
      partition: this.partition,
      stateChanges,
      outputs,
      offsets: Object.fromEntries(this.offsets),
      taskState: this.taskState(),
    };
  }

  /** Loads a restore point into this fresh task (nothing processed yet). */
  async restore(point: RestorePoint): Promise<void> {
    const s = point.taskState;
    if (this.used || this.keys.size > 0)
      throw new StreamError('BAD_SNAPSHOT', 'restore() needs a fresh task');
    if (s.version !== 1) throw new StreamError('BAD_SNAPSHOT', `task state version ${String(s.version)}`);
    if (s.job !== this.job.name || s.partition !== this.partition) {
      throw new StreamError(
        'BAD_SNAPSHOT',
        `task state of ${s.job}/${s.partition} restored into ${this.job.name}/${this.partition}`,
      );
    }
    // Entries of operator-held stores go to them; the rest to the KeyGroupState.
    const owners = new Map<string, { store: OperatorStore; entries: StateChange[] }>();
    for (const slot of this.slots) {
      const store = slot.store;
      if (store === undefined) continue;
      const bucket = { store, entries: [] as StateChange[] };
      for (const name of store.stateNames) owners.set(name, bucket);
    }
    const rest: StateChange[] = [];
    for (const e of point.entries) {
      const owner = owners.get(e.name);
      if (owner === undefined) rest.push(e);
      else owner.entries.push(e);
    }
    await this.state.restore(rest);
    this.now = Math.max(this.now, this.clock.now());
    this.watermarks.restore(s.watermarks, this.now);
    for (let i = 0; i < this.keys.size; i++) for (const slot of this.slots) slot.timers.ensure(i);
    for (const { store, entries } of new Set(owners.values())) {
      store.restore(entries, (key) => this.intern(key));
    }
    for (const slot of this.slots) {
      const timers = s.timers[slot.name];
      if (timers !== undefined) slot.timers.restore(timers, (key) => this.intern(key));
    }
    this.elements = s.counters.elements;
    this.lateWithin = s.counters.lateWithinLateness;
    Object.assign(this.late, s.counters.late);
    for (const [topic, offset] of Object.entries(point.offsets)) this.offsets.set(topic, offset);
  }

  /** Outputs emitted since the last checkpoint (what the next `checkpoint()` hands over). */
  pendingOutputs(): readonly TaskOutput[] {
    return this.outputs;
  }

  metrics(): TaskMetrics {
    let event = 0;
    let processing = 0;
    for (const slot of this.slots) {
      event += slot.timers.pendingEvent;
      processing += slot.timers.pendingProcessing;
    }
    const c = this.watermarks.counts(this.now);
    return {
      job: this.job.name,
      partition: this.partition,
      watermark: this.watermarks.partition,
      processingTime: this.now,
      keys: this.keys.size,
      activeKeys: c.active,
      idleKeys: c.idle,
      offlineKeys: c.offline,
      detachedKeys: c.detached,
      elements: this.elements,
      lateWithinLateness: this.lateWithin,
      late: { ...this.late },
      pendingTimers: { event, processing },
      stateMemoryBytes: this.slots.reduce(
        (n, slot) => n + (slot.store?.memoryBytes() ?? 0),
        this.state.memoryBytes(),
      ),
      pendingOutputs: this.outputs.length,
      offsets: Object.fromEntries(this.offsets),
    };
  }

  // --- internals -------------------------------------------------------------------------------

  private tick(): void {
    const now = this.clock.now();
    if (now > this.now) this.now = now;
  }

  private intern(key: string): number {
    const i = this.keys.intern(key);
    if (i === this.keys.size - 1) {
      this.watermarks.ensure(i);
      for (const slot of this.slots) slot.timers.ensure(i);
    }
    return i;
  }

  private taskState(): TaskStateSnapshot {
    const timers: Record<string, TimerSnapshot> = {};
    for (const slot of this.slots) timers[slot.name] = slot.timers.snapshot(this.keys.names);
    return {
      version: 1,
      job: this.job.name,
      partition: this.partition,
      watermarks: this.watermarks.snapshot(this.now),
      timers,
      counters: { elements: this.elements, lateWithinLateness: this.lateWithin, late: { ...this.late } },
    };
  }

  private lateOutput(
    reason: LateReason,
    key: string,
    eventTime: number,
    watermark: number,
    value: unknown,
    n: number,
  ) {
    this.late[reason]++;
    const r = this.record;
    const topic = r?.topic ?? '';
    const offset = r?.offset ?? -1n;
    const out: LateOutput = {
      type: 'late',
      id: `${this.job.name}/late/${topic}/${this.partition}/${offset}/${n}`,
      reason,
      key,
      topic,
      partition: this.partition,
      offset,
      eventTime,
      watermark,
      value,
    };
    this.outputs.push(out);
  }

  /** Fires key i's event-time timers that its watermark has passed, in (timestamp, operator) order. */
  private fireKeyEventTimers(i: number): void {
    const slots = this.slots;
    for (;;) {
      const e = this.watermarks.effective(i);
      let best = -1;
      let bestT = e;
      for (let s = 0; s < slots.length; s++) {
        const t = (slots[s] as Slot).timers.nextEvent[i] as number;
        if (t < bestT) {
          bestT = t;
          best = s;
        }
      }
      if (best < 0) return;
      this.fire(slots[best] as Slot, i, 'event');
    }
  }

  private fire(slot: Slot, i: number, domain: TimeDomain): void {
    const t = slot.timers.pop(domain, i);
    const key = this.keys.name(i);
    const e = this.watermarks.effective(i);
    this.state.setTime(domain === 'event' ? t : e);
    slot.ctx.forTimer(i, key, t, e, domain, this.now);
    slot.fn.onTimer?.(t, slot.ctx);
  }

  private advanceWatermark(): void {
    if (this.watermarks.advance(this.now)) this.fireDue('event');
  }

  private fireProcessingTimers(): void {
    this.fireDue('processing');
  }

  /** Fires every due timer of `domain` across keys in (timestamp, key, operator) order. */
  private fireDue(domain: TimeDomain): void {
    const heap = new Heap<Due>(dueLess);
    const event = domain === 'event';
    const limit = (i: number) => (event ? this.watermarks.effective(i) : this.now + 1);
    const next = (slot: Slot, i: number) =>
      event ? (slot.timers.nextEvent[i] as number) : slot.timers.nextProcessing(i);
    const slots = this.slots;
    if (event) {
      const n = this.keys.size;
      for (let s = 0; s < slots.length; s++) {
        const nextEvent = (slots[s] as Slot).timers.nextEvent;
        for (let i = 0; i < n; i++) {
          const t = nextEvent[i] as number;
          if (t !== Infinity && t < this.watermarks.effective(i)) {
            heap.push({ t, i, op: s, key: this.keys.name(i) });
          }
        }
      }
    } else {
      for (let s = 0; s < slots.length; s++) {
        const slot = slots[s] as Slot;
        for (const i of slot.timers.processingKeys()) {
          const t = slot.timers.nextProcessing(i);
          if (t < this.now + 1) heap.push({ t, i, op: s, key: this.keys.name(i) });
        }
      }
    }
    for (let d = heap.pop(); d !== undefined; d = heap.pop()) {
      const slot = slots[d.op] as Slot;
      if (next(slot, d.i) !== d.t) continue; // deleted by an earlier callback
      this.fire(slot, d.i, domain);
      // Timers registered by callbacks (any of this key's operators) may be due too.
      for (let s = 0; s < slots.length; s++) {
        const t = next(slots[s] as Slot, d.i);
        if (t < limit(d.i)) heap.push({ t, i: d.i, op: s, key: d.key });
      }
    }
  }
}
