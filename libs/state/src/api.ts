/**
 * Keyed state, as the stream runtime sees it.
 *
 * Partitions are the key groups: one {@link KeyGroupState} per (job, partition), owned by exactly one
 * instance at a time, holding every named state of every key (robot id) of that partition. All
 * reads and writes on the hot path are SYNCHRONOUS, so an operator processes a record without
 * awaiting. A backend whose data lives on disk (LevelDB) is made synchronous by {@link prefetch}:
 * before a batch of records is processed, the runtime awaits `prefetch(keys of the batch)`, which
 * brings those keys into memory; reads of keys not prefetched throw `StateError('NOT_PREFETCHED')`.
 *
 * Checkpoints are incremental: the backend remembers which entries changed since the last
 * `takeChanges()` and hands over exactly those (puts and deletes, serialised), which the runtime
 * writes in the same PostgreSQL transaction as the outputs and the offsets. `restore()` loads such
 * entries back (from PostgreSQL, after a failover).
 *
 * Values are serialised with the descriptor's codec; only bytes cross the backend boundary, so the
 * in-memory and the durable backend behave identically and one shared test suite covers both.
 */

/** Serialises state values. Must be deterministic: equal values give equal bytes. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export type StateKind = 'value' | 'map' | 'list' | 'aggregating';

export interface StateDescriptor<T> {
  /** Unique per job: `[a-z][a-z0-9_]*`, e.g. `battery_window`. */
  readonly name: string;
  readonly kind: StateKind;
  readonly codec: Codec<T>;
  /**
   * Time to live, from the last write (event time of the write, as given by the runtime): an entry
   * older than this reads as absent and is deleted at the next `expire()`. Absent: kept for ever.
   */
  readonly ttlMs?: number;
}

/** One changed entry since the last checkpoint. `value === null` deletes the entry. */
export interface StateChange {
  readonly name: string;
  readonly key: string;
  /** The user key inside a map state ('' for value, list and aggregating states). */
  readonly userKey: string;
  readonly value: Uint8Array | null;
  /** Time of the last write (for TTL), ms. */
  readonly writtenAt: number;
}

export interface ValueState<T> {
  /** The stored instance (both backends keep values decoded): mutate it only if you `set()` it again. */
  get(): T | undefined;
  set(value: T): void;
  clear(): void;
}

export interface MapState<V> {
  get(userKey: string): V | undefined;
  set(userKey: string, value: V): void;
  delete(userKey: string): void;
  has(userKey: string): boolean;
  /** In ascending userKey order (byte order of the UTF-8 encoding). */
  entries(): IterableIterator<[string, V]>;
  clear(): void;
}

export interface ListState<T> {
  get(): readonly T[];
  add(value: T): void;
  replace(values: readonly T[]): void;
  clear(): void;
}

/** Folds inputs into an accumulator (stored), read as an output: incremental aggregation. */
export interface AggregateFunction<IN, ACC, OUT> {
  create(): ACC;
  add(acc: ACC, input: IN): ACC;
  result(acc: ACC): OUT;
  /** Needed by session windows, which merge. */
  merge?(a: ACC, b: ACC): ACC;
}

export interface AggregatingState<IN, OUT> {
  add(input: IN): void;
  get(): OUT | undefined;
  clear(): void;
}

/** The state of one key group (partition). The current key is passed per call. */
export interface KeyGroupState {
  readonly partition: number;
  value<T>(descriptor: StateDescriptor<T>, key: string): ValueState<T>;
  map<V>(descriptor: StateDescriptor<V>, key: string): MapState<V>;
  list<T>(descriptor: StateDescriptor<T>, key: string): ListState<T>;
  aggregating<IN, ACC, OUT>(
    descriptor: StateDescriptor<ACC>,
    fn: AggregateFunction<IN, ACC, OUT>,
    key: string,
  ): AggregatingState<IN, OUT>;
  /** Every key that has an entry in the named state (e.g. to fire all windows on an idle partition). */
  keys(name: string): IterableIterator<string>;
  /** The runtime's notion of "now" for TTL (event time of the record being processed). */
  setTime(ms: number): void;
  /** Deletes entries whose TTL has passed at `now`; returns how many. */
  expire(now: number): number;
  /**
   * Loads the given keys' entries into memory. In-memory backends resolve at once. The LevelDB
   * backend also reads keys not prefetched (synchronously, with `getSync`), so it never throws
   * NOT_PREFETCHED; prefetching only moves those reads off the event loop.
   */
  prefetch(keys: Iterable<string>): Promise<void>;
  /** The entries changed since the last call, then forgets them (the checkpoint has them). */
  takeChanges(): StateChange[];
  /** Puts back entries from a checkpoint (replaces what is there); the changes log stays empty. */
  restore(entries: Iterable<StateChange>): Promise<void>;
  /** Approximate bytes held in memory (keys + values + overhead), for the per-key figure. */
  memoryBytes(): number;
  close(): Promise<void>;
}

export interface StateBackend {
  readonly name: 'memory' | 'level';
  /** Opens (or creates) the state of one partition of one job. */
  open(job: string, partition: number): Promise<KeyGroupState>;
  /** Removes a partition's local state (after it moved to another instance). */
  drop(job: string, partition: number): Promise<void>;
}

export type StateErrorCode = 'NOT_PREFETCHED' | 'BAD_NAME' | 'KIND_MISMATCH' | 'CLOSED' | 'CORRUPT';

export class StateError extends Error {
  override readonly name = 'StateError';
  readonly code: StateErrorCode;
  constructor(code: StateErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
