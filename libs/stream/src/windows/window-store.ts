/**
 * The open windows of every key of ONE window operator in ONE partition task, packed in typed
 * arrays by the task's key index (an {@link OperatorStore}): ~72 bytes per tumbling window with a
 * 7-field accumulator, against ~700 for a WindowSet object per key in the KeyGroupState (Map slot,
 * Entry, two arrays, boxed doubles, one object per accumulator).
 *
 * Records (one per window) sit in a pool, linked per key in start order:
 *   f64, per record: start, [end, anchor]  (sessions only), then the accumulator's fields when its
 *                    codec is a structCodec (a "struct" accumulator), else the accumulator object
 *                    lives in `objects[record]`;
 *   i32, per record: next record of the key (-1: last), (revision + 1) << 2 | flags (ANCHORED, FIRED).
 * Fixed (tumbling/sliding) windows derive end = start + size; anchor is start once emitted; a
 * window's firedEnd is always NaN or its own end (end never changes in place: a merged session is a
 * new record), so one bit holds it.
 *
 * The operator works on a scratch {@link WindowSet} per call (`load` → the unchanged window logic →
 * `store`), so the window semantics are the same code as before. Checkpoints: `takeChanges` writes
 * each key changed since the last one as ONE `StateChange` named after the operator, value in
 * `windowSetCodec` bytes: byte for byte what the KeyGroupState held before, so checkpoints written
 * by either restore into the other.
 */
import { StateError, type Codec, type StateChange } from '@fleet/state';
import type { OperatorStore } from '../operators/api.js';
import { grow } from '../time/keys.js';
import { STRIDE, windowSetCodec, type WindowSet } from './window-set.js';

const ANCHORED = 1;
const FIRED = 2;

type Unpack = (f: Float64Array, o: number, acc: Record<string, number>) => void;
type Pack = (acc: Record<string, number>, f: Float64Array, o: number) => void;

/**
 * Copy functions specialised to the field names (named property access stays monomorphic; a loop
 * over names would make every access a megamorphic keyed lookup). Names are emitted as JSON string
 * literals, so any field name is safe.
 */
function copiers(fields: readonly string[]): { unpack: Unpack; pack: Pack } {
  const lit = fields.map((n) => JSON.stringify(n));
  return {
    unpack: new Function('f', 'o', 'a', lit.map((n, j) => `a[${n}] = f[o + ${j}];`).join('\n')) as Unpack,
    pack: new Function('a', 'f', 'o', lit.map((n, j) => `f[o + ${j}] = a[${n}];`).join('\n')) as Pack,
  };
}

/** A structCodec exposes its field names: the accumulator is then packed as float64s. */
function structFields(codec: Codec<unknown>): readonly string[] | undefined {
  const fields = (codec as { fields?: unknown }).fields;
  return Array.isArray(fields) && fields.every((f) => typeof f === 'string') ? fields : undefined;
}

export interface WindowStoreOptions<ACC> {
  readonly name: string;
  readonly accCodec: Codec<ACC>;
  /** Fixed windows (tumbling/sliding): their size; undefined for sessions. */
  readonly sizeMs: number | undefined;
}

export class WindowStore<ACC> implements OperatorStore {
  readonly stateNames: readonly string[];
  private readonly name: string;
  private readonly codec: Codec<WindowSet<ACC>>;
  private readonly size: number | undefined;
  private readonly fields: readonly string[] | undefined;
  private readonly unpack: Unpack | undefined;
  private readonly pack: Pack | undefined;
  /** float64s per record before the accumulator. */
  private readonly meta: number;
  private readonly stride: number;
  /** Per key: first record, -1 when the key has no window. */
  private head = new Int32Array(0);
  /** Per key: 1 when changed since the last checkpoint. */
  private dirty = new Uint8Array(0);
  private f = new Float64Array(0);
  private i = new Int32Array(0);
  private objects: (ACC | undefined)[] = [];
  /** Free records, linked through i[r * 2]. */
  private free = -1;
  private records = 0;
  private live = 0;
  private dirtyCount = 0;
  /** Scratch accumulator objects for struct accumulators (reused; the aggregate may replace them). */
  private readonly scratch: Record<string, number>[] = [];
  private readonly set: { m: number[]; a: ACC[] } = { m: [], a: [] };

  constructor(o: WindowStoreOptions<ACC>) {
    this.name = o.name;
    this.stateNames = [o.name];
    this.codec = windowSetCodec(o.accCodec);
    this.size = o.sizeMs;
    this.fields = structFields(o.accCodec as Codec<unknown>);
    if (this.fields !== undefined) ({ unpack: this.unpack, pack: this.pack } = copiers(this.fields));
    this.meta = o.sizeMs === undefined ? 3 : 1;
    this.stride = this.meta + (this.fields?.length ?? 0);
  }

  private ensureKey(k: number): void {
    if (k < this.head.length) return;
    this.head = grow(this.head, k + 1, -1);
    this.dirty = grow(this.dirty, k + 1, 0);
  }

  private alloc(): number {
    if (this.free >= 0) {
      const r = this.free;
      this.free = this.i[r * 2] as number;
      return r;
    }
    const r = this.records++;
    if (r * 2 + 2 > this.i.length) {
      this.i = grow(this.i, r * 2 + 2, 0);
      this.f = grow(this.f, (this.i.length / 2) * this.stride, 0);
    }
    return r;
  }

  private release(r: number): void {
    this.i[r * 2] = this.free;
    this.free = r;
    if (this.fields === undefined) this.objects[r] = undefined;
  }

  /** Scratch for {@link windowOf}. */
  private readonly w5 = new Float64Array(STRIDE);

  /** Record r's window as the STRIDE numbers of WindowSet.m: start, end, revision, anchor, firedEnd. */
  private windowOf(r: number, out: Float64Array): void {
    const { f, i } = this;
    const o = r * this.stride;
    const start = f[o] as number;
    const word = i[r * 2 + 1] as number;
    const flags = word & 3;
    let end: number;
    let anchor: number;
    if (this.size === undefined) {
      end = f[o + 1] as number;
      anchor = f[o + 2] as number;
    } else {
      end = start + this.size;
      anchor = flags & ANCHORED ? start : NaN;
    }
    out[0] = start;
    out[1] = end;
    out[2] = (word >> 2) - 1;
    out[3] = anchor;
    out[4] = flags & FIRED ? end : NaN;
  }

  /** The key's windows as a scratch WindowSet (valid until the next `load`). */
  load(k: number): WindowSet<ACC> {
    this.ensureKey(k);
    const set = this.set;
    set.m.length = 0;
    set.a.length = 0;
    const { f, i, stride, fields } = this;
    let w = 0;
    const w5 = this.w5;
    for (let r = this.head[k] as number; r >= 0; r = i[r * 2] as number, w++) {
      const o = r * stride;
      this.windowOf(r, w5);
      set.m.push(w5[0] as number, w5[1] as number, w5[2] as number, w5[3] as number, w5[4] as number);
      if (fields === undefined) set.a.push(this.objects[r] as ACC);
      else {
        let acc = this.scratch[w];
        if (acc === undefined) {
          acc = {};
          for (const name of fields) acc[name] = 0;
          this.scratch.push(acc);
        }
        (this.unpack as Unpack)(f, o + this.meta, acc);
        set.a.push(acc as ACC);
      }
    }
    return set;
  }

  /** Writes `set` back as key k's windows (marks the key changed). */
  store(k: number, set: WindowSet<ACC>): void {
    this.ensureKey(k);
    const { stride, fields } = this;
    const n = set.a.length;
    // Reuse the key's records in order; allocate more or free the rest.
    let prev = -1;
    let r = this.head[k] as number;
    for (let w = 0; w < n; w++) {
      if (r < 0) {
        r = this.alloc();
        this.live++;
        this.i[r * 2] = -1;
        if (prev < 0) this.head[k] = r;
        else this.i[prev * 2] = r;
      }
      const f = this.f;
      const o = r * stride;
      const m = w * STRIDE;
      const start = set.m[m] as number;
      const end = set.m[m + 1] as number;
      const anchor = set.m[m + 3] as number;
      const firedEnd = set.m[m + 4] as number;
      let flags = 0;
      if (!Number.isNaN(firedEnd)) {
        if (firedEnd !== end)
          throw new StateError('CORRUPT', `${this.name}: window fired at ${firedEnd}, end ${end}`);
        flags |= FIRED;
      }
      f[o] = start;
      if (this.size === undefined) {
        f[o + 1] = end;
        f[o + 2] = anchor;
      } else {
        if (end !== start + this.size)
          throw new StateError('CORRUPT', `${this.name}: window [${start}, ${end})`);
        if (!Number.isNaN(anchor)) {
          if (anchor !== start)
            throw new StateError('CORRUPT', `${this.name}: anchor ${anchor} of window ${start}`);
          flags |= ANCHORED;
        }
      }
      this.i[r * 2 + 1] = (((set.m[m + 2] as number) + 1) << 2) | flags;
      const acc = set.a[w] as ACC;
      if (fields === undefined) this.objects[r] = acc;
      else {
        (this.pack as Pack)(acc as Record<string, number>, f, o + this.meta);
      }
      prev = r;
      r = this.i[r * 2] as number;
    }
    // Unlink and free what the key no longer needs.
    if (prev < 0) this.head[k] = -1;
    else this.i[prev * 2] = -1;
    while (r >= 0) {
      const nextR = this.i[r * 2] as number;
      this.release(r);
      this.live--;
      r = nextR;
    }
    if (this.dirty[k] === 0) {
      this.dirty[k] = 1;
      this.dirtyCount++;
    }
  }

  hasWindows(k: number): boolean {
    return k < this.head.length && (this.head[k] as number) >= 0;
  }

  takeChanges(names: readonly string[]): StateChange[] {
    const out: StateChange[] = [];
    if (this.dirtyCount === 0) return out;
    const dirty = this.dirty;
    for (let k = 0; k < dirty.length; k++) {
      if (dirty[k] === 0) continue;
      dirty[k] = 0;
      const key = names[k] as string;
      if (!this.hasWindows(k)) {
        out.push({ name: this.name, key, userKey: '', value: null, writtenAt: 0 });
        continue;
      }
      if (this.fields !== undefined) {
        out.push(this.encodePacked(k, key));
        continue;
      }
      const set = this.load(k);
      // writtenAt: the state has no TTL; the newest window's start stands for the write time.
      const writtenAt = set.m[(set.a.length - 1) * STRIDE] as number;
      out.push({ name: this.name, key, userKey: '', value: this.codec.encode(set), writtenAt });
    }
    this.dirtyCount = 0;
    this.arena = undefined;
    return out;
  }

  /** Where packed encodings of one checkpoint are written (views of it become the values). */
  private arena: { bytes: Uint8Array; view: DataView; at: number } | undefined;

  /**
   * Key k's windows in `windowSetCodec` bytes, written straight from the packed records into a
   * shared arena: one allocation per ~1 MiB of changes instead of several per key (the struct
   * accumulator's bytes are its float64 fields in order, as `structCodec` encodes them).
   */
  private encodePacked(k: number, key: string): StateChange {
    const { f, i, stride, meta } = this;
    const nf = (this.fields as readonly string[]).length;
    let n = 0;
    for (let r = this.head[k] as number; r >= 0; r = i[r * 2] as number) n++;
    const size = 4 + n * (STRIDE * 8 + 4 + nf * 8);
    let arena = this.arena;
    if (arena === undefined || arena.at + size > arena.bytes.byteLength) {
      const bytes = new Uint8Array(Math.max(size, 1 << 20));
      arena = this.arena = { bytes, view: new DataView(bytes.buffer), at: 0 };
    }
    const view = arena.view;
    const base = arena.at;
    let o = base;
    view.setUint32(o, n, true);
    o += 4;
    let newest = 0;
    const w5 = this.w5;
    for (let r = this.head[k] as number; r >= 0; r = i[r * 2] as number) {
      const at = r * stride;
      this.windowOf(r, w5);
      for (let j = 0; j < STRIDE; j++, o += 8) view.setFloat64(o, w5[j] as number, true);
      view.setUint32(o, nf * 8, true);
      o += 4;
      for (let j = 0; j < nf; j++, o += 8) view.setFloat64(o, f[at + meta + j] as number, true);
      newest = w5[0] as number;
    }
    arena.at = o;
    // writtenAt: the state has no TTL; the newest window's start stands for the write time.
    return { name: this.name, key, userKey: '', value: arena.bytes.subarray(base, o), writtenAt: newest };
  }

  restore(entries: readonly StateChange[], indexOf: (key: string) => number): void {
    for (const e of entries) {
      if (e.userKey !== '') {
        throw new StateError(
          'CORRUPT',
          `restored window state ${e.name} has user key ${JSON.stringify(e.userKey)}`,
        );
      }
      const k = indexOf(e.key);
      const set = e.value === null ? { m: [], a: [] } : this.codec.decode(e.value);
      this.store(k, set);
    }
    // A restored store has nothing to hand over until it changes.
    this.dirty.fill(0);
    this.dirtyCount = 0;
  }

  memoryBytes(): number {
    return (
      this.head.byteLength +
      this.dirty.byteLength +
      this.f.byteLength +
      this.i.byteLength +
      (this.fields === undefined ? this.live * 64 : 0)
    );
  }
}
