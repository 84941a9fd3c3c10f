/**
 * The in-memory key group both backends are built on. The memory backend is this class alone; the
 * LevelDB backend uses it as a write-back cache and plugs a {@link Backing} in for misses,
 * write-back and the key index.
 *
 * Values are kept DECODED (the codec runs at `takeChanges()`, at a LevelDB flush, and on the first
 * read of restored or loaded bytes), with per-table dirty sets for incremental checkpoints. This
 * was chosen by measurement (README, "Why decoded values"): storing bytes meant one codec round
 * trip and one typed-array allocation per access, 2-4x slower for the same resident size. The
 * price is Flink's heap-backend rule: a value returned by `get()` is the stored instance; mutate it
 * only if you `set()` it again.
 *
 * Invariants:
 * - `Table.single` holds value/list/aggregating entries; `Table.multi` holds map entries, and also
 *   the entries of a table restored before any descriptor said its kind (`kind === undefined`).
 * - `dirty`/`dirtyMulti` name every entry written or deleted since the last `takeChanges()`.
 * - An entry with `raw === true` holds the bytes of its value (list: framed elements), undecoded.
 */
import type {
  AggregateFunction,
  AggregatingState,
  Codec,
  KeyGroupState,
  ListState,
  MapState,
  StateChange,
  StateDescriptor,
  StateKind,
  ValueState,
} from './api.js';
import { StateError } from './api.js';
import { compareUtf8, frameList, unframeList } from './framing.js';

const NAME = /^[a-z][a-z0-9_]*$/;

export class Entry {
  constructor(
    /** Decoded value (list: T[]), or its bytes when `raw`. */
    public v: unknown,
    /** Event time of the last write, ms. */
    public t: number,
    public raw: boolean,
  ) {}
}

export class Table {
  kind: StateKind | undefined = undefined;
  codec: Codec<unknown> | undefined = undefined;
  ttl: number | undefined = undefined;
  /** The descriptor last seen, for an identity fast path. */
  desc: StateDescriptor<unknown> | undefined = undefined;
  readonly single = new Map<string, Entry>();
  readonly multi = new Map<string, Map<string, Entry>>();
  readonly dirty = new Set<string>();
  readonly dirtyMulti = new Map<string, Set<string>>();
  constructor(readonly name: string) {}

  isMap(): boolean {
    return this.kind === 'map' || this.kind === undefined;
  }

  clear(): void {
    this.single.clear();
    this.multi.clear();
    this.dirty.clear();
    this.dirtyMulti.clear();
  }

  /** Value of a cached entry, decoding restored/loaded bytes on first use. */
  decoded(e: Entry): unknown {
    if (e.raw) {
      const codec = this.codec as Codec<unknown>;
      const bytes = e.v as Uint8Array;
      e.v = this.kind === 'list' ? unframeList(bytes).map((b) => codec.decode(b)) : codec.decode(bytes);
      e.raw = false;
    }
    return e.v;
  }

  /** Bytes of an entry's value as a StateChange carries them. */
  encoded(e: Entry): Uint8Array {
    if (e.raw) return e.v as Uint8Array;
    const codec = this.codec as Codec<unknown>;
    if (this.kind === 'list') return frameList((e.v as unknown[]).map((x) => codec.encode(x)));
    return codec.encode(e.v);
  }
}

/** Everything a partition holds; outlives a closed KeyGroup so that `open()` again finds it. */
export class Store {
  readonly tables = new Map<string, Table>();
}

/** What the durable backend plugs into the key group. All calls are synchronous. */
export interface Backing {
  /** Brings `(table, key)` into the cache from disk if it is there; returns whether it was. */
  load(table: Table, key: string): boolean;
  /** `(table, key)` was written or deleted in the cache (and must reach disk). */
  written(table: Table, key: string): void;
  /** Every key of `table`, cached or not (the cache is a subset), with its oldest write time. */
  keys(table: Table): Iterable<[string, number]>;
  /** Keys of `table` whose oldest write is at or before `t` (candidates for expiry). */
  writtenBefore(table: Table, t: number): Iterable<string>;
  /** Throws the failure of a background flush, if one failed. */
  check(): void;
}

function closedError(partition: number): StateError {
  return new StateError('CLOSED', `state of partition ${partition} is closed`);
}

export class KeyGroup implements KeyGroupState {
  /** Event time for TTL, set by the runtime. */
  now = 0;
  closed = false;

  constructor(
    readonly partition: number,
    readonly store: Store,
    protected readonly backing: Backing | null = null,
  ) {}

  // --- descriptors ---------------------------------------------------------------------------

  table(desc: StateDescriptor<unknown>, kind: StateKind): Table {
    if (this.closed) throw closedError(this.partition);
    const t = this.store.tables.get(desc.name);
    if (t !== undefined && t.desc === desc && t.kind === kind) return t;
    return this.register(t, desc, kind);
  }

  private register(t: Table | undefined, desc: StateDescriptor<unknown>, kind: StateKind): Table {
    if (typeof desc.name !== 'string' || !NAME.test(desc.name)) {
      throw new StateError('BAD_NAME', `state name ${JSON.stringify(desc.name)} does not match ${NAME}`);
    }
    if (desc.kind !== kind) {
      throw new StateError('KIND_MISMATCH', `descriptor ${desc.name} is ${desc.kind}, used as ${kind}`);
    }
    if (desc.ttlMs !== undefined && !(desc.ttlMs > 0)) {
      throw new RangeError(`state descriptor ${desc.name}: ttlMs must be > 0, got ${desc.ttlMs}`);
    }
    if (t === undefined) {
      t = new Table(desc.name);
      this.store.tables.set(desc.name, t);
    }
    if (t.kind !== undefined && t.kind !== kind) {
      throw new StateError('KIND_MISMATCH', `state ${desc.name} is ${t.kind}, used as ${kind}`);
    }
    if (t.kind === undefined) {
      if (kind !== 'map') {
        // Restored before its kind was known: entries sit in `multi` under userKey ''.
        for (const [key, inner] of t.multi) {
          for (const userKey of inner.keys()) {
            if (userKey !== '') {
              throw new StateError(
                'CORRUPT',
                `state ${desc.name} used as ${kind} has map entry ${key}/${userKey}`,
              );
            }
          }
          const e = inner.get('');
          if (e !== undefined) t.single.set(key, e);
        }
        t.multi.clear();
      }
      t.kind = kind;
    }
    if (t.codec === undefined) {
      // First descriptor of this name in this key group: its codec and TTL hold from now on.
      t.codec = desc.codec as Codec<unknown>;
      t.ttl = desc.ttlMs;
    }
    t.desc = desc;
    return t;
  }

  // --- entry access (used by the handles) ----------------------------------------------------

  private live(t: Table, e: Entry): boolean {
    return t.ttl === undefined || e.t + t.ttl > this.now;
  }

  /** The live entry of a value/list/aggregating state, or undefined. */
  getSingle(t: Table, key: string): Entry | undefined {
    if (this.closed) throw closedError(this.partition);
    let e = t.single.get(key);
    if (e === undefined) {
      if (this.backing === null || !this.backing.load(t, key)) return undefined;
      e = t.single.get(key);
      if (e === undefined) return undefined;
    }
    return t.ttl === undefined || e.t + t.ttl > this.now ? e : undefined;
  }

  putSingle(t: Table, key: string, v: unknown): void {
    if (this.closed) throw closedError(this.partition);
    const e = t.single.get(key);
    if (e === undefined) t.single.set(key, new Entry(v, this.now, false));
    else {
      e.v = v;
      e.t = this.now;
      e.raw = false;
    }
    t.dirty.add(key);
    if (this.backing !== null) this.backing.written(t, key);
  }

  deleteSingle(t: Table, key: string): void {
    if (this.closed) throw closedError(this.partition);
    t.single.delete(key);
    t.dirty.add(key);
    if (this.backing !== null) this.backing.written(t, key);
  }

  /** The cached user entries of a map state's key (loading them if needed), or undefined. */
  getInner(t: Table, key: string): Map<string, Entry> | undefined {
    if (this.closed) throw closedError(this.partition);
    const inner = t.multi.get(key);
    if (inner !== undefined || this.backing === null || !this.backing.load(t, key)) return inner;
    return t.multi.get(key);
  }

  getMapEntry(t: Table, key: string, userKey: string): Entry | undefined {
    const e = this.getInner(t, key)?.get(userKey);
    return e !== undefined && this.live(t, e) ? e : undefined;
  }

  putMapEntry(t: Table, key: string, userKey: string, v: unknown): void {
    let inner = this.getInner(t, key);
    if (inner === undefined) {
      inner = new Map();
      t.multi.set(key, inner);
    }
    const e = inner.get(userKey);
    if (e === undefined) inner.set(userKey, new Entry(v, this.now, false));
    else {
      e.v = v;
      e.t = this.now;
      e.raw = false;
    }
    this.markMap(t, key, userKey);
  }

  deleteMapEntry(t: Table, key: string, userKey: string): void {
    const inner = this.getInner(t, key);
    if (inner === undefined || !inner.delete(userKey)) return;
    if (inner.size === 0) t.multi.delete(key);
    this.markMap(t, key, userKey);
  }

  clearMap(t: Table, key: string): void {
    const inner = this.getInner(t, key);
    if (inner === undefined) return;
    t.multi.delete(key);
    for (const userKey of inner.keys()) this.markMap(t, key, userKey);
  }

  mapEntries(t: Table, key: string): [string, Entry][] {
    const inner = this.getInner(t, key);
    if (inner === undefined) return [];
    const out: [string, Entry][] = [];
    for (const [userKey, e] of inner) if (this.live(t, e)) out.push([userKey, e]);
    return out.sort((a, b) => compareUtf8(a[0], b[0]));
  }

  private markMap(t: Table, key: string, userKey: string): void {
    let d = t.dirtyMulti.get(key);
    if (d === undefined) {
      d = new Set();
      t.dirtyMulti.set(key, d);
    }
    d.add(userKey);
    if (this.backing !== null) this.backing.written(t, key);
  }

  // --- KeyGroupState -------------------------------------------------------------------------

  value<T>(descriptor: StateDescriptor<T>, key: string): ValueState<T> {
    return new ValueHandle<T>(this, this.table(descriptor as StateDescriptor<unknown>, 'value'), key);
  }

  map<V>(descriptor: StateDescriptor<V>, key: string): MapState<V> {
    return new MapHandle<V>(this, this.table(descriptor as StateDescriptor<unknown>, 'map'), key);
  }

  list<T>(descriptor: StateDescriptor<T>, key: string): ListState<T> {
    return new ListHandle<T>(this, this.table(descriptor as StateDescriptor<unknown>, 'list'), key);
  }

  aggregating<IN, ACC, OUT>(
    descriptor: StateDescriptor<ACC>,
    fn: AggregateFunction<IN, ACC, OUT>,
    key: string,
  ): AggregatingState<IN, OUT> {
    return new AggregatingHandle<IN, ACC, OUT>(
      this,
      this.table(descriptor as StateDescriptor<unknown>, 'aggregating'),
      fn,
      key,
    );
  }

  *keys(name: string): IterableIterator<string> {
    if (this.closed) throw closedError(this.partition);
    const t = this.store.tables.get(name);
    if (t === undefined) return;
    if (this.backing === null) {
      const keys = t.isMap() ? t.multi.keys() : t.single.keys();
      for (const key of keys) {
        if (t.isMap() ? this.mapHasLive(t, key) : this.getSingle(t, key) !== undefined) yield key;
      }
      return;
    }
    // The index knows each key's oldest write: younger than the TTL means live without a disk read.
    for (const [key, oldest] of this.backing.keys(t)) {
      if (t.ttl === undefined || oldest + t.ttl > this.now) yield key;
      else if (t.isMap() && this.mapHasLive(t, key)) yield key;
    }
  }

  private mapHasLive(t: Table, key: string): boolean {
    const inner = this.getInner(t, key);
    if (inner === undefined) return false;
    if (t.ttl === undefined) return inner.size > 0;
    for (const e of inner.values()) if (this.live(t, e)) return true;
    return false;
  }

  setTime(ms: number): void {
    if (this.closed) throw closedError(this.partition);
    this.now = ms;
  }

  expire(now: number): number {
    if (this.closed) throw closedError(this.partition);
    let n = 0;
    for (const t of this.store.tables.values()) {
      const ttl = t.ttl;
      if (ttl === undefined) continue;
      const limit = now - ttl;
      // Snapshot the candidates: deleting while a backing's index iterates would skip keys.
      const candidates = [
        ...(this.backing === null
          ? t.isMap()
            ? t.multi.keys()
            : t.single.keys()
          : this.backing.writtenBefore(t, limit)),
      ];
      for (const key of candidates) {
        if (t.isMap()) {
          const inner = this.getInner(t, key);
          if (inner === undefined) continue;
          for (const [userKey, e] of inner) {
            if (e.t <= limit) {
              this.deleteMapEntry(t, key, userKey);
              n++;
            }
          }
        } else {
          let e = t.single.get(key);
          if (e === undefined && this.backing !== null && this.backing.load(t, key)) e = t.single.get(key);
          if (e !== undefined && e.t <= limit) {
            this.deleteSingle(t, key);
            n++;
          }
        }
      }
    }
    return n;
  }

  async prefetch(_keys: Iterable<string>): Promise<void> {
    if (this.closed) throw closedError(this.partition);
  }

  takeChanges(): StateChange[] {
    if (this.closed) throw closedError(this.partition);
    this.backing?.check();
    const out: StateChange[] = [];
    for (const t of this.store.tables.values()) {
      const name = t.name;
      for (const key of t.dirty) {
        const e = this.peekSingle(t, key);
        out.push(
          e === undefined
            ? { name, key, userKey: '', value: null, writtenAt: this.now }
            : { name, key, userKey: '', value: t.encoded(e), writtenAt: e.t },
        );
      }
      t.dirty.clear();
      for (const [key, userKeys] of t.dirtyMulti) {
        const inner = this.getInner(t, key);
        for (const userKey of userKeys) {
          const e = inner?.get(userKey);
          out.push(
            e === undefined
              ? { name, key, userKey, value: null, writtenAt: this.now }
              : { name, key, userKey, value: t.encoded(e), writtenAt: e.t },
          );
        }
      }
      t.dirtyMulti.clear();
    }
    return out;
  }

  /** The stored entry regardless of TTL (a checkpoint records what is stored). */
  private peekSingle(t: Table, key: string): Entry | undefined {
    const e = t.single.get(key);
    if (e !== undefined || this.backing === null || !this.backing.load(t, key)) return e;
    return t.single.get(key);
  }

  /** Replaces the content with `entries` (applied in order; `value === null` deletes). */
  restoreInto(entries: Iterable<StateChange>): void {
    for (const t of this.store.tables.values()) t.clear();
    for (const c of entries) {
      if (!NAME.test(c.name))
        throw new StateError('BAD_NAME', `restored state name ${JSON.stringify(c.name)}`);
      let t = this.store.tables.get(c.name);
      if (t === undefined) {
        t = new Table(c.name);
        this.store.tables.set(c.name, t);
      }
      if (t.isMap()) {
        let inner = t.multi.get(c.key);
        if (c.value === null) {
          if (inner?.delete(c.userKey) === true && inner.size === 0) t.multi.delete(c.key);
          continue;
        }
        if (inner === undefined) {
          inner = new Map();
          t.multi.set(c.key, inner);
        }
        inner.set(c.userKey, new Entry(c.value, c.writtenAt, true));
      } else {
        if (c.userKey !== '') {
          throw new StateError(
            'CORRUPT',
            `restored ${t.kind} state ${c.name} has user key ${JSON.stringify(c.userKey)}`,
          );
        }
        if (c.value === null) t.single.delete(c.key);
        else t.single.set(c.key, new Entry(c.value, c.writtenAt, true));
      }
    }
  }

  async restore(entries: Iterable<StateChange>): Promise<void> {
    if (this.closed) throw closedError(this.partition);
    this.restoreInto(entries);
  }

  memoryBytes(): number {
    if (this.closed) throw closedError(this.partition);
    return estimateBytes(this.store);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

// --- memory estimate ---------------------------------------------------------------------------
//
// Calibrated against heapUsed deltas on Node 20 (bench/state.bench.ts prints both): a Map slot
// ~28 B, an Entry 20 B + a boxed float64 time 12 B, a key string 16 B + its length (one-byte
// strings), a decoded value ~ 2 x its encoded size + 16 B (objects box their doubles; JSON shapes
// hold strings and arrays). Values are sampled, not all encoded, so the call stays cheap.

const MAP_SLOT = 28;
const ENTRY = 32;
const STRING = 16;
const SAMPLE = 32;

function valueBytes(t: Table, e: Entry): number {
  if (e.raw) return (e.v as Uint8Array).byteLength + 96;
  return t.encoded(e).byteLength * 2 + 16;
}

function estimateBytes(store: Store): number {
  let total = 0;
  for (const t of store.tables.values()) {
    total += 200;
    let sampled = 0;
    let sampleBytes = 0;
    let keyChars = 0;
    let entries = 0;
    for (const [key, e] of t.single) {
      keyChars += key.length;
      entries++;
      if (sampled < SAMPLE) {
        sampleBytes += valueBytes(t, e);
        sampled++;
      }
    }
    total += t.single.size * (MAP_SLOT + ENTRY + STRING) + keyChars;
    for (const [key, inner] of t.multi) {
      total += MAP_SLOT + STRING + key.length + 64;
      for (const [userKey, e] of inner) {
        total += MAP_SLOT + ENTRY + STRING + userKey.length;
        entries++;
        if (sampled < SAMPLE) {
          sampleBytes += valueBytes(t, e);
          sampled++;
        }
      }
    }
    if (sampled > 0) total += Math.round((sampleBytes / sampled) * entries);
    total += (t.dirty.size + t.dirtyMulti.size) * MAP_SLOT;
  }
  return total;
}

// --- handles -----------------------------------------------------------------------------------
//
// A handle is a fresh, three-field object per call: cheaper than a per-(descriptor, key) cache
// (measured), and it never pins memory per key.

class ValueHandle<T> implements ValueState<T> {
  constructor(
    private readonly g: KeyGroup,
    private readonly t: Table,
    private readonly key: string,
  ) {}
  get(): T | undefined {
    const e = this.g.getSingle(this.t, this.key);
    return e === undefined ? undefined : (this.t.decoded(e) as T);
  }
  set(value: T): void {
    this.g.putSingle(this.t, this.key, value);
  }
  clear(): void {
    this.g.deleteSingle(this.t, this.key);
  }
}

class MapHandle<V> implements MapState<V> {
  constructor(
    private readonly g: KeyGroup,
    private readonly t: Table,
    private readonly key: string,
  ) {}
  get(userKey: string): V | undefined {
    const e = this.g.getMapEntry(this.t, this.key, userKey);
    return e === undefined ? undefined : (this.t.decoded(e) as V);
  }
  set(userKey: string, value: V): void {
    this.g.putMapEntry(this.t, this.key, userKey, value);
  }
  delete(userKey: string): void {
    this.g.deleteMapEntry(this.t, this.key, userKey);
  }
  has(userKey: string): boolean {
    return this.g.getMapEntry(this.t, this.key, userKey) !== undefined;
  }
  *entries(): IterableIterator<[string, V]> {
    for (const [userKey, e] of this.g.mapEntries(this.t, this.key)) yield [userKey, this.t.decoded(e) as V];
  }
  clear(): void {
    this.g.clearMap(this.t, this.key);
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

class ListHandle<T> implements ListState<T> {
  constructor(
    private readonly g: KeyGroup,
    private readonly t: Table,
    private readonly key: string,
  ) {}
  /** The stored array (read-only view, valid until the next write of this list). */
  get(): readonly T[] {
    const e = this.g.getSingle(this.t, this.key);
    return e === undefined ? EMPTY : (this.t.decoded(e) as T[]);
  }
  add(value: T): void {
    const e = this.g.getSingle(this.t, this.key);
    if (e === undefined) this.g.putSingle(this.t, this.key, [value]);
    else {
      const items = this.t.decoded(e) as T[];
      items.push(value);
      this.g.putSingle(this.t, this.key, items);
    }
  }
  replace(values: readonly T[]): void {
    if (values.length === 0) this.g.deleteSingle(this.t, this.key);
    else this.g.putSingle(this.t, this.key, [...values]);
  }
  clear(): void {
    this.g.deleteSingle(this.t, this.key);
  }
}

class AggregatingHandle<IN, ACC, OUT> implements AggregatingState<IN, OUT> {
  constructor(
    private readonly g: KeyGroup,
    private readonly t: Table,
    private readonly fn: AggregateFunction<IN, ACC, OUT>,
    private readonly key: string,
  ) {}
  add(input: IN): void {
    const e = this.g.getSingle(this.t, this.key);
    const acc = e === undefined ? this.fn.create() : (this.t.decoded(e) as ACC);
    this.g.putSingle(this.t, this.key, this.fn.add(acc, input));
  }
  get(): OUT | undefined {
    const e = this.g.getSingle(this.t, this.key);
    return e === undefined ? undefined : this.fn.result(this.t.decoded(e) as ACC);
  }
  clear(): void {
    this.g.deleteSingle(this.t, this.key);
  }
}
