/**
 * The keyed process API, in the spirit of Flink's KeyedProcessFunction: an operator sees every
 * element of its job's keyed stream, one key at a time, with that key's state, timers and watermark.
 */
import type {
  AggregateFunction,
  AggregatingState,
  ListState,
  MapState,
  StateChange,
  StateDescriptor,
  ValueState,
} from '@fleet/state';
import type { BroadcastChange, BroadcastDescriptor } from '../broadcast/state.js';
import type { TimeDomain } from '../timers/timer-service.js';

/** State handles of the current key (a thin view of the partition's KeyGroupState). */
export interface KeyedState {
  value<T>(descriptor: StateDescriptor<T>): ValueState<T>;
  map<V>(descriptor: StateDescriptor<V>): MapState<V>;
  list<T>(descriptor: StateDescriptor<T>): ListState<T>;
  aggregating<IN, ACC, OUT>(
    descriptor: StateDescriptor<ACC>,
    fn: AggregateFunction<IN, ACC, OUT>,
  ): AggregatingState<IN, OUT>;
}

/** Timers of the current key. Registering an existing (domain, timestamp) again is a no-op. */
export interface TimerRegistry {
  /** Fires `onTimer(t)` once the key's watermark passes t (watermark > t). */
  registerEventTime(t: number): void;
  deleteEventTime(t: number): void;
  /** Fires `onTimer(t)` once the processing clock reaches t. */
  registerProcessingTime(t: number): void;
  deleteProcessingTime(t: number): void;
}

export interface Context<O> {
  /** The current key (robot id). */
  readonly key: string;
  /**
   * Event time of the element, the timestamp of the firing timer, or in `onBroadcast` the
   * broadcast record's log timestamp.
   */
  readonly timestamp: number;
  /** The key's watermark E(key) (README, "Semantics"), before this element was counted. */
  readonly watermark: number;
  /** The task's processing clock, ms. */
  readonly processingTime: number;
  readonly allowedLatenessMs: number;
  readonly state: KeyedState;
  readonly timers: TimerRegistry;
  /**
   * Emits a result. Its id is `<job>/<operator>/<key>/<idSuffix>`; the default suffix is
   * `e<timestamp>.<n>` (element) or `t<timestamp>.<n>` (timer), n counting emits of this call.
   * Give a suffix when a row should be updated in place (window start, command id, ...).
   */
  emit(value: O, idSuffix?: string): void;
  /** Emits to a named side output; id `<job>/<operator>/<tag>/<key>/<idSuffix>` (same default). */
  sideOutput(tag: string, value: unknown, idSuffix?: string): void;
  /**
   * A broadcast state of the job (declared in its `broadcast`), as of now: read-only, shared by
   * every key and partition, not checkpointed. `BAD_CONFIG` for a state the job did not declare.
   *
   * @example
   *   const zone = ctx.broadcast(robotMeta).get(ctx.key)?.zone;
   */
  broadcast<V>(descriptor: BroadcastDescriptor<V>): ReadonlyMap<string, V>;
}

export interface ElementContext<O> extends Context<O> {
  /** The element is behind the key's watermark but within allowed lateness. */
  readonly late: boolean;
}

export interface TimerContext<O> extends Context<O> {
  readonly domain: TimeDomain;
}

export interface KeyedProcessFunction<E, O> {
  processElement(value: E, ctx: ElementContext<O>): void;
  onTimer?(timestamp: number, ctx: TimerContext<O>): void;
  /**
   * Optional: a broadcast entry changed (put or tombstone) whose key is a key this partition has
   * seen (broadcast keys are robot ids, like the stream's). Runs as that key: its state, timers and
   * emits (default id suffix `b<timestamp>.<n>`, timestamp = the record's log timestamp). Entries
   * under other keys (sites, zones) call nothing; operators read them at their next element.
   * Not called while an instance first reads the topic, nor for a task restored afterwards: such
   * a task sees the state as it is, not the changes that built it.
   */
  onBroadcast?(change: BroadcastChange, ctx: Context<O>): void;
}

/**
 * Keyed state that an operator holds itself, packed by the task's key index instead of one
 * KeyGroupState entry per key (the window operators: ~100 bytes per window instead of ~700).
 * Its entries travel in checkpoints exactly like KeyGroupState entries (same `StateChange`
 * records, under state names the store owns), so a checkpoint does not show which holds them.
 */
export interface OperatorStore {
  /** The `StateChange.name`s this store owns: restored entries of these names come here. */
  readonly stateNames: readonly string[];
  /**
   * Entries changed since the last call (deleted: `value === null`), then forgets them.
   * `keyNames[i]` is the key of the task's key index i.
   */
  takeChanges(keyNames: readonly string[]): StateChange[];
  /** Loads checkpointed entries into this fresh store; `indexOf` interns a key in the task. */
  restore(entries: readonly StateChange[], indexOf: (key: string) => number): void;
  /** Approximate bytes held (typed arrays at their capacity), for `metrics().stateMemoryBytes`. */
  memoryBytes(): number;
}

/** What `Operator.instantiate` gives one partition task. */
export interface OperatorInstance<E, O> {
  readonly fn: KeyedProcessFunction<E, O>;
  readonly store?: OperatorStore;
}

/** A named keyed process function. The name (`[a-z][a-z0-9_]*`) appears in output ids. */
export interface Operator<E, O> {
  readonly name: string;
  /** The function, with its state in the task's KeyGroupState (used when `instantiate` is absent). */
  readonly fn: KeyedProcessFunction<E, O>;
  /**
   * Optional: a per-task instance holding its own packed state ({@link OperatorStore}). The task
   * calls it once, when it is created, and uses the instance's `fn` instead of `fn`.
   */
  readonly instantiate?: () => OperatorInstance<E, O>;
}

export function operator<E, O>(name: string, fn: KeyedProcessFunction<E, O>): Operator<E, O> {
  return { name, fn };
}
