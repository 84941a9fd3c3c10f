/**
 * The durable local backend, for state larger than memory: LevelDB (classic-level), one database
 * per (job, partition) under `dir`, with the in-memory {@link KeyGroup} as a write-back cache.
 *
 * - Reads hit the cache; a miss for a key the index knows is read with `getSync` (a few µs), so
 *   reads never throw NOT_PREFETCHED. `prefetch(keys)` loads keys with one async `getMany` off the
 *   event loop, for runtimes that want it.
 * - Writes go to the cache and are flushed to LevelDB in one batch once `flushKeys` distinct keys are unflushed, at
 *   `takeChanges()` and at `close()`. A key written and not yet flushed is never evicted, and nothing
 *   is evicted while a batch is in flight, so a `getSync` never reads a value older than the cache's.
 * - An in-memory index (state name -> key -> oldest write time) answers `keys()`, negative lookups and
 *   TTL candidates without touching disk; it is rebuilt by one scan at `open()`.
 * - `close()` flushes and stores the not-yet-taken changes and the kinds of the states, so a clean
 *   restart resumes `takeChanges()` where it was. After a crash the runtime restores from its
 *   checkpoint (`drop()` then `restore()`): the local files are not trusted to match it.
 *
 * Layout inside one partition's database (UTF-8 keys):
 *   `<state name>\0<key>`  -> record (see framing.ts): every entry of that key in that state
 *   `\x01changes`          -> JSON [name, key, userKey | null][]: untaken changes at the last close
 *   `\x01kinds`            -> JSON { [name]: kind }
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel, type BatchOperation } from 'classic-level';
import type { KeyGroupState, StateBackend, StateChange, StateKind } from './api.js';
import { StateError } from './api.js';
import type { Backing } from './core.js';
import { Entry, KeyGroup, Store, Table } from './core.js';
import { compareUtf8, decodeRecord, encodeRecord, type RecordEntry } from './framing.js';
import { partitionId } from './names.js';

export interface LevelBackendOptions {
  /** Directory holding one LevelDB directory per (job, partition). Created if absent. */
  readonly dir: string;
  /** Cached keys per partition above which clean ones are evicted after a flush (default 250,000). */
  readonly cacheKeys?: number;
  /**
   * Distinct unflushed keys (summed over states) at which a background flush starts (default
   * 50,000). Flushes also happen at `takeChanges()` and `close()`; counting distinct keys rather
   * than writes lets repeated writes of a hot key between flushes cost one record write.
   */
  readonly flushKeys?: number;
}

type Db = ClassicLevel<string, Uint8Array>;
type Op = BatchOperation<Db, string, Uint8Array>;

const CHANGES = '\x01changes';
const KINDS = '\x01kinds';
const KIND_NAMES: readonly StateKind[] = ['value', 'map', 'list', 'aggregating'];

function recordKey(name: string, key: string): string {
  return `${name}\0${key}`;
}

class LevelPartition implements Backing {
  /** name -> key -> oldest write time of the key's entries. */
  readonly index = new Map<string, Map<string, number>>();
  /** name -> keys written or deleted in the cache and not yet in a batch. */
  readonly unflushed = new Map<string, Set<string>>();
  /** Distinct keys in `unflushed`. */
  private pending = 0;
  private scheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private failure: unknown = undefined;
  /** Bumped by every eviction; a prefetch that saw it move drops its (possibly stale) result. */
  evictions = 0;
  group!: LevelKeyGroup;

  constructor(
    readonly db: Db,
    private readonly cacheKeys: number,
    private readonly flushKeys: number,
  ) {}

  indexOf(name: string): Map<string, number> {
    let idx = this.index.get(name);
    if (idx === undefined) {
      idx = new Map();
      this.index.set(name, idx);
    }
    return idx;
  }

  load(t: Table, key: string): boolean {
    if (this.index.get(t.name)?.has(key) !== true) return false;
    const bytes = this.db.getSync(recordKey(t.name, key));
    if (bytes === undefined) {
      throw new StateError('CORRUPT', `state ${t.name} key ${key}: indexed but absent from LevelDB`);
    }
    this.cache(t, key, bytes);
    return true;
  }

  cache(t: Table, key: string, bytes: Uint8Array): void {
    const entries = decodeRecord(bytes, `state ${t.name} key ${key}`);
    if (t.isMap()) {
      t.multi.set(key, new Map(entries.map((e) => [e.userKey, new Entry(e.value, e.writtenAt, true)])));
      return;
    }
    const only = entries[0];
    if (entries.length !== 1 || only === undefined || only.userKey !== '') {
      throw new StateError(
        'CORRUPT',
        `${t.kind} state ${t.name} key ${key}: record is not one entry with user key ''`,
      );
    }
    t.single.set(key, new Entry(only.value, only.writtenAt, true));
  }

  written(t: Table, key: string): void {
    const oldest = oldestWrite(t, key);
    const idx = this.indexOf(t.name);
    if (oldest === undefined) idx.delete(key);
    else idx.set(key, oldest);
    let u = this.unflushed.get(t.name);
    if (u === undefined) {
      u = new Set();
      this.unflushed.set(t.name, u);
    }
    if (u.has(key)) return;
    u.add(key);
    if (++this.pending >= this.flushKeys && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (!this.group.closed) void this.flush();
      });
    }
  }

  keys(t: Table): Iterable<[string, number]> {
    return this.index.get(t.name)?.entries() ?? [];
  }

  *writtenBefore(t: Table, limit: number): Iterable<string> {
    const idx = this.index.get(t.name);
    if (idx === undefined) return;
    for (const [key, oldest] of idx) if (oldest <= limit) yield key;
  }

  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes every unflushed key in one batch (batches run one at a time), then evicts. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const ops = this.batchOps();
      this.pending = 0;
      if (ops.length > 0) {
        try {
          await this.db.batch(ops);
        } catch (err) {
          this.failure = err;
          throw err;
        }
      }
      this.evict();
    });
    return this.flushing;
  }

  private batchOps(): Op[] {
    const ops: Op[] = [];
    for (const [name, keys] of this.unflushed) {
      const t = this.group.store.tables.get(name);
      if (t === undefined) continue;
      for (const key of keys) {
        const entries = recordEntries(t, key);
        if (entries === undefined) ops.push({ type: 'del', key: recordKey(name, key) });
        else ops.push({ type: 'put', key: recordKey(name, key), value: encodeRecord(entries) });
      }
    }
    this.unflushed.clear();
    return ops;
  }

  /** Drops clean cached keys, oldest loaded first, down to 90% of the budget. */
  private evict(): void {
    const tables = [...this.group.store.tables.values()];
    let cached = 0;
    for (const t of tables) cached += t.single.size + t.multi.size;
    if (cached <= this.cacheKeys) return;
    this.evictions++;
    let excess = cached - Math.floor(this.cacheKeys * 0.9);
    for (const t of tables) {
      const dirty = this.unflushed.get(t.name);
      for (const cache of [t.single, t.multi] as Map<string, unknown>[]) {
        for (const key of cache.keys()) {
          if (excess <= 0) return;
          if (dirty?.has(key) === true) continue;
          cache.delete(key);
          excess--;
        }
      }
    }
  }

  async prefetch(keys: Iterable<string>): Promise<void> {
    const wanted: [Table, string][] = [];
    for (const key of keys) {
      for (const t of this.group.store.tables.values()) {
        const cached = t.isMap() ? t.multi.has(key) : t.single.has(key);
        if (!cached && this.index.get(t.name)?.has(key) === true) wanted.push([t, key]);
      }
    }
    if (wanted.length === 0) return;
    const evictions = this.evictions;
    const values = await this.db.getMany(wanted.map(([t, key]) => recordKey(t.name, key)));
    if (this.evictions !== evictions || this.group.closed) return;
    wanted.forEach(([t, key], i) => {
      const bytes = values[i];
      const cached = t.isMap() ? t.multi.has(key) : t.single.has(key);
      // Written (cached) or deleted (unindexed) while we waited: the cache is newer.
      if (bytes === undefined || cached || this.index.get(t.name)?.has(key) !== true) return;
      this.cache(t, key, bytes);
    });
  }

  /** Forgets the cache, the index and the unflushed set, and empties the database. */
  async wipe(): Promise<void> {
    await this.flushing.catch(() => undefined);
    this.unflushed.clear();
    this.index.clear();
    await this.db.clear();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      await this.saveMeta();
    } finally {
      await this.db.close();
    }
  }

  private async saveMeta(): Promise<void> {
    const changes: [string, string, string | null][] = [];
    const kinds: Record<string, StateKind> = {};
    for (const t of this.group.store.tables.values()) {
      if (t.kind !== undefined) kinds[t.name] = t.kind;
      for (const key of t.dirty) changes.push([t.name, key, null]);
      for (const [key, userKeys] of t.dirtyMulti) for (const uk of userKeys) changes.push([t.name, key, uk]);
    }
    const utf8 = new TextEncoder();
    await this.db.batch([
      { type: 'put', key: CHANGES, value: utf8.encode(JSON.stringify(changes)) },
      { type: 'put', key: KINDS, value: utf8.encode(JSON.stringify(kinds)) },
    ]);
  }

  /** Rebuilds the index (one scan), the kinds and the untaken changes. */
  async loadIndex(store: Store): Promise<void> {
    const meta = (key: string): unknown => {
      const bytes = this.db.getSync(key);
      if (bytes === undefined) return undefined;
      try {
        return JSON.parse(Buffer.from(bytes).toString('utf8'));
      } catch {
        throw new StateError('CORRUPT', `LevelDB meta record ${JSON.stringify(key)} is not JSON`);
      }
    };
    const table = (name: string): Table => {
      let t = store.tables.get(name);
      if (t === undefined) {
        t = new Table(name);
        store.tables.set(name, t);
      }
      return t;
    };
    const kinds = meta(KINDS);
    if (kinds !== undefined) {
      for (const [name, kind] of Object.entries(kinds as Record<string, unknown>)) {
        if (!KIND_NAMES.includes(kind as StateKind))
          throw new StateError('CORRUPT', `state ${name}: kind ${String(kind)}`);
        table(name).kind = kind as StateKind;
      }
    }
    for await (const [k, bytes] of this.db.iterator({ gt: 'a' })) {
      const sep = k.indexOf('\0');
      if (sep < 0) throw new StateError('CORRUPT', `LevelDB key ${JSON.stringify(k)} has no state name`);
      const name = k.slice(0, sep);
      table(name);
      const entries = decodeRecord(bytes, `state ${name} key ${k.slice(sep + 1)}`);
      let oldest = Infinity;
      for (const e of entries) oldest = Math.min(oldest, e.writtenAt);
      this.indexOf(name).set(k.slice(sep + 1), oldest);
    }
    const changes = meta(CHANGES);
    if (Array.isArray(changes)) {
      for (const c of changes as [string, string, string | null][]) {
        const t = table(c[0]);
        if (c[2] === null) t.dirty.add(c[1]);
        else {
          let d = t.dirtyMulti.get(c[1]);
          if (d === undefined) {
            d = new Set();
            t.dirtyMulti.set(c[1], d);
          }
          d.add(c[2]);
        }
      }
      await this.db.del(CHANGES);
    }
  }
}

function oldestWrite(t: Table, key: string): number | undefined {
  if (!t.isMap()) return t.single.get(key)?.t;
  const inner = t.multi.get(key);
  if (inner === undefined || inner.size === 0) return undefined;
  let oldest = Infinity;
  for (const e of inner.values()) oldest = Math.min(oldest, e.t);
  return oldest;
}

function recordEntries(t: Table, key: string): RecordEntry[] | undefined {
  if (!t.isMap()) {
    const e = t.single.get(key);
    return e === undefined ? undefined : [{ userKey: '', writtenAt: e.t, value: t.encoded(e) }];
  }
  const inner = t.multi.get(key);
  if (inner === undefined || inner.size === 0) return undefined;
  return [...inner]
    .sort((a, b) => compareUtf8(a[0], b[0]))
    .map(([userKey, e]) => ({ userKey, writtenAt: e.t, value: t.encoded(e) }));
}

class LevelKeyGroup extends KeyGroup {
  constructor(
    partition: number,
    store: Store,
    readonly part: LevelPartition,
  ) {
    super(partition, store, part);
    part.group = this;
  }

  /** Writes the unflushed cache to LevelDB now (also done on its own; for benches and tools). */
  async flush(): Promise<void> {
    await super.prefetch([]); // throws CLOSED
    await this.part.flush();
  }

  override async prefetch(keys: Iterable<string>): Promise<void> {
    await super.prefetch(keys);
    this.part.check();
    await this.part.prefetch(keys);
  }

  override takeChanges(): StateChange[] {
    const changes = super.takeChanges();
    void this.part.flush().catch(() => undefined); // a failure resurfaces through check()
    return changes;
  }

  override async restore(entries: Iterable<StateChange>): Promise<void> {
    await super.prefetch([]); // throws CLOSED
    await this.part.wipe();
    this.restoreInto(entries);
    for (const t of this.store.tables.values()) {
      for (const key of t.isMap() ? t.multi.keys() : t.single.keys()) this.part.written(t, key);
    }
    await this.part.flush();
  }

  override memoryBytes(): number {
    let indexed = 0;
    for (const [name, idx] of this.part.index)
      for (const key of idx.keys()) indexed += 48 + name.length + key.length;
    return super.memoryBytes() + indexed;
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.part.close();
  }
}

/**
 * @example
 * const backend = createLevelBackend({ dir: '/var/lib/fleet/state' });
 * const state = await backend.open('heatmap', 7);
 * await state.prefetch(batch.map((r) => r.robotId)); // optional: reads fall back to getSync
 */
export function createLevelBackend(options: LevelBackendOptions): StateBackend {
  const cacheKeys = options.cacheKeys ?? 250_000;
  const flushKeys = options.flushKeys ?? 50_000;
  const open = new Map<string, Promise<LevelKeyGroup>>();
  return {
    name: 'level',
    async open(job: string, partition: number): Promise<KeyGroupState> {
      const id = partitionId(job, partition);
      const current = open.get(id);
      if (current !== undefined) {
        const group = await current.catch(() => undefined);
        if (group !== undefined && !group.closed) return group;
      }
      const opening = (async () => {
        const db: Db = new ClassicLevel<string, Uint8Array>(join(options.dir, id), {
          keyEncoding: 'utf8',
          valueEncoding: 'view',
        });
        await db.open({ createIfMissing: true });
        const part = new LevelPartition(db, cacheKeys, flushKeys);
        const group = new LevelKeyGroup(partition, new Store(), part);
        try {
          await part.loadIndex(group.store);
        } catch (err) {
          await db.close();
          throw err;
        }
        return group;
      })();
      open.set(id, opening);
      return opening;
    },
    async drop(job: string, partition: number): Promise<void> {
      const id = partitionId(job, partition);
      const current = open.get(id);
      open.delete(id);
      const group = await current?.catch(() => undefined);
      await group?.close().catch(() => undefined);
      await rm(join(options.dir, id), { recursive: true, force: true });
    },
  };
}
