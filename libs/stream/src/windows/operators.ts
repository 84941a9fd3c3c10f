/**
 * Tumbling, sliding and session windows over the keyed stream, with incremental aggregation
 * (AggregateFunction from @fleet/state). Each is a KeyedProcessFunction on the ordinary keyed state
 * and timers, so checkpoints, replays and the test driver treat them like any other operator.
 *
 * Per window [start, end) of a key, with L = allowed lateness and E the key's watermark:
 * - an element adds to its window(s); a window's first element registers an event-time timer at
 *   end - 1 (fires when E >= end) and, when L > 0, one at end - 1 + L (cleanup);
 * - E >= end: emit revision 0 as 'provisional' (L > 0) or 'final' (L = 0; state cleared);
 * - an element arriving with E >= end (late, within L: the task already diverted anything beyond L)
 *   updates the window and re-emits it at once as 'corrected' with revision + 1;
 * - E >= end + L: emit 'final' with revision + 1 and clear the window's state.
 */
import type { AggregateFunction, Codec, StateDescriptor } from '@fleet/state';
import { NAME_PATTERN, StreamError } from '../errors.js';
import type {
  ElementContext,
  KeyedProcessFunction,
  Operator,
  OperatorInstance,
  TimerContext,
} from '../operators/api.js';
import type { ResultKind, WindowResult } from './result.js';
import {
  findWindow,
  insertWindow,
  removeWindow,
  STRIDE,
  windowSetCodec,
  type WindowSet,
} from './window-set.js';
import { WindowStore } from './window-store.js';

interface CommonOptions<E, ACC, OUT> {
  /** Operator name, `[a-z][a-z0-9_]*`: in output ids and as the state name. */
  readonly name: string;
  readonly aggregate: AggregateFunction<E, ACC, OUT>;
  /** Serialises the accumulator for checkpoints (deterministic). */
  readonly accCodec: Codec<ACC>;
  /** Elements for which this returns false are ignored by this operator. */
  readonly filter?: (value: E) => boolean;
}

export interface TumblingOptions<E, ACC, OUT> extends CommonOptions<E, ACC, OUT> {
  readonly sizeMs: number;
  /** Shifts the window grid: windows start at offset + n * size. Default 0 (aligned to the epoch). */
  readonly offsetMs?: number;
}

export interface SlidingOptions<E, ACC, OUT> extends CommonOptions<E, ACC, OUT> {
  readonly sizeMs: number;
  /** Must divide sizeMs evenly (every element then belongs to sizeMs / slideMs windows). */
  readonly slideMs: number;
  readonly offsetMs?: number;
}

export interface SessionOptions<E, ACC, OUT> extends CommonOptions<E, ACC, OUT> {
  /** A session ends after this much event time without an element; sessions that touch merge. */
  readonly gapMs: number;
}

export type WindowOperator<E, OUT> = Operator<E, WindowResult<OUT>>;

/** Fixed-size, non-overlapping windows [offset + n*size, offset + (n+1)*size). */
export function tumblingWindows<E, ACC, OUT>(o: TumblingOptions<E, ACC, OUT>): WindowOperator<E, OUT> {
  return slidingWindows({ ...o, slideMs: o.sizeMs });
}

/** Windows of sizeMs starting every slideMs; an element belongs to sizeMs / slideMs of them. */
export function slidingWindows<E, ACC, OUT>(o: SlidingOptions<E, ACC, OUT>): WindowOperator<E, OUT> {
  checkName(o.name);
  const size = o.sizeMs;
  const slide = o.slideMs;
  const offset = o.offsetMs ?? 0;
  if (!(
    Number.isSafeInteger(size) &&
    size > 0 &&
    Number.isSafeInteger(slide) &&
    slide > 0 &&
    size % slide === 0
  )) {
    throw new StreamError(
      'BAD_CONFIG',
      `${o.name}: sizeMs and slideMs must be positive integers, size a multiple of slide`,
    );
  }
  const agg = o.aggregate;
  const filter = o.filter;
  const desc: StateDescriptor<WindowSet<ACC>> = {
    name: o.name,
    kind: 'value',
    codec: windowSetCodec(o.accCodec),
  };
  /** Adds the element to its windows in `set`; `register` gets the per-window timers (KeyGroupState path). */
  const add = (set: WindowSet<ACC>, value: E, ctx: ElementContext<WindowResult<OUT>>, register: boolean) => {
    const ts = ctx.timestamp;
    const e = ctx.watermark;
    const lateness = ctx.allowedLatenessMs;
    const lastStart = ts - mod(ts - offset, slide);
    for (let start = lastStart; start > ts - size; start -= slide) {
      const end = start + size;
      if (end + lateness <= e) continue; // cleared already (the task diverts such elements)
      let w = findWindow(set, start);
      if (w < 0) {
        w = insertWindow(set, start, end, agg.add(agg.create(), value));
        if (register) {
          if (end > e) ctx.timers.registerEventTime(end - 1);
          if (lateness > 0) ctx.timers.registerEventTime(end - 1 + lateness);
        }
      } else {
        set.a[w] = agg.add(set.a[w] as ACC, value);
      }
      if (end <= e) emitWindow(ctx, agg, set, w, 'corrected');
    }
  };
  const fn = stateBackedWindows(desc, agg, filter, add);
  const instantiate = () =>
    packed(new WindowStore({ name: o.name, accCodec: o.accCodec, sizeMs: size }), agg, filter, add);
  return { name: o.name, fn, instantiate };
}

/**
 * The reference form of a window operator: each key's windows as one value in keyed state (the
 * packed form below is what tasks run; this one is what it is tested against).
 */
function stateBackedWindows<E, ACC, OUT>(
  desc: StateDescriptor<WindowSet<ACC>>,
  agg: AggregateFunction<E, ACC, OUT>,
  filter: ((value: E) => boolean) | undefined,
  add: (set: WindowSet<ACC>, value: E, ctx: ElementContext<WindowResult<OUT>>, register: boolean) => void,
): KeyedProcessFunction<E, WindowResult<OUT>> {
  return {
    processElement(value, ctx) {
      if (filter !== undefined && !filter(value)) return;
      const state = ctx.state.value(desc);
      const set = state.get() ?? { m: [], a: [] };
      add(set, value, ctx, true);
      state.set(set);
    },
    onTimer(t, ctx) {
      const state = ctx.state.value(desc);
      const set = state.get();
      if (set === undefined) return;
      if (fireDue(ctx, agg, set, t, true)) {
        if (set.a.length === 0) state.clear();
        else state.set(set);
      }
    },
  };
}

/**
 * The per-task form of a window operator: windows in a packed {@link WindowStore}, and ONE
 * event-time timer per key, at its earliest pending action (a window's end - 1 to fire it, or
 * end - 1 + L to finalise it); on firing, the next one is registered. Windows fire at the same
 * timestamps as with one timer per action: every action time is, in turn, the key's earliest.
 */
function packed<E, ACC, OUT>(
  store: WindowStore<ACC>,
  agg: AggregateFunction<E, ACC, OUT>,
  filter: ((value: E) => boolean) | undefined,
  add: (set: WindowSet<ACC>, value: E, ctx: ElementContext<WindowResult<OUT>>, register: boolean) => void,
): OperatorInstance<E, WindowResult<OUT>> {
  const fn: KeyedProcessFunction<E, WindowResult<OUT>> = {
    processElement(value, ctx) {
      if (filter !== undefined && !filter(value)) return;
      const k = keyIndex(ctx);
      const set = store.load(k);
      const before = nextAction(set, ctx.allowedLatenessMs);
      add(set, value, ctx, false);
      store.store(k, set);
      const after = nextAction(set, ctx.allowedLatenessMs);
      if (after < before) ctx.timers.registerEventTime(after);
    },
    onTimer(t, ctx) {
      const k = keyIndex(ctx);
      if (!store.hasWindows(k)) return;
      const set = store.load(k);
      if (fireDue(ctx, agg, set, t, false)) store.store(k, set);
      const next = nextAction(set, ctx.allowedLatenessMs);
      if (next !== Infinity) ctx.timers.registerEventTime(next);
    },
  };
  return { fn, store };
}

/** The task's key index of the current key (the context is the task's OperatorContext). */
function keyIndex(ctx: object): number {
  return (ctx as { readonly index: number }).index;
}

/** Earliest timestamp at which a window of `set` has something to do (+Infinity: none). */
function nextAction(set: WindowSet<unknown>, lateness: number): number {
  let min = Infinity;
  for (let w = 0; w < set.a.length; w++) {
    const m = w * STRIDE;
    const end = set.m[m + 1] as number;
    const t = set.m[m + 4] !== end ? end - 1 : lateness > 0 ? end - 1 + lateness : Infinity;
    if (t < min) min = t;
  }
  return min;
}

/** Session windows per key: [first element, last element + gap), merged when they touch. */
export function sessionWindows<E, ACC, OUT>(o: SessionOptions<E, ACC, OUT>): WindowOperator<E, OUT> {
  checkName(o.name);
  const gap = o.gapMs;
  if (!(Number.isSafeInteger(gap) && gap > 0))
    throw new StreamError('BAD_CONFIG', `${o.name}: gapMs must be a positive integer`);
  const agg = o.aggregate;
  const merge = agg.merge;
  if (merge === undefined)
    throw new StreamError('BAD_CONFIG', `${o.name}: session windows need aggregate.merge`);
  const filter = o.filter;
  const desc: StateDescriptor<WindowSet<ACC>> = {
    name: o.name,
    kind: 'value',
    codec: windowSetCodec(o.accCodec),
  };
  const add = (set: WindowSet<ACC>, value: E, ctx: ElementContext<WindowResult<OUT>>, register: boolean) => {
    const ts = ctx.timestamp;
    const e = ctx.watermark;
    const lateness = ctx.allowedLatenessMs;
    let start = ts;
    let end = ts + gap;
    // Sessions that touch [ts, ts + gap) merge with it (and, through it, with each other).
    const parts: number[] = [];
    for (let w = 0; w < set.a.length; w++) {
      const s = set.m[w * STRIDE] as number;
      const en = set.m[w * STRIDE + 1] as number;
      if (s <= ts + gap && en >= ts) parts.push(w);
    }
    let acc: ACC;
    let revision = -1;
    let anchor = NaN;
    if (parts.length === 0) {
      acc = agg.create();
    } else {
      // The merged row keeps the id of the earliest emitted part; other emitted parts are retracted.
      for (const w of parts) {
        const a = set.m[w * STRIDE + 3] as number;
        if (!Number.isNaN(a) && !(a >= anchor)) anchor = a;
      }
      for (const w of parts) {
        const m = w * STRIDE;
        start = Math.min(start, set.m[m] as number);
        end = Math.max(end, set.m[m + 1] as number);
        revision = Math.max(revision, set.m[m + 2] as number);
        const a = set.m[m + 3] as number;
        if (!Number.isNaN(a) && a !== anchor) {
          ctx.emit(resultOf(ctx.key, set, w, 'retracted', (set.m[m + 2] as number) + 1, agg), String(a));
        }
      }
      acc = set.a[parts[0] as number] as ACC;
      for (let j = 1; j < parts.length; j++) acc = merge(acc, set.a[parts[j] as number] as ACC);
      for (let j = parts.length - 1; j >= 0; j--) removeWindow(set, parts[j] as number);
    }
    const w = insertWindow(set, start, end, agg.add(acc, value));
    set.m[w * STRIDE + 2] = revision;
    set.m[w * STRIDE + 3] = anchor;
    if (end <= e) {
      emitWindow(ctx, agg, set, w, 'corrected');
      if (register && lateness > 0) ctx.timers.registerEventTime(end - 1 + lateness);
    } else if (register) {
      ctx.timers.registerEventTime(end - 1);
    }
  };
  const fn = stateBackedWindows(desc, agg, filter, add);
  const instantiate = () =>
    packed(new WindowStore({ name: o.name, accCodec: o.accCodec, sizeMs: undefined }), agg, filter, add);
  return { name: o.name, fn, instantiate };
}

/**
 * At event-time timer t (so E > t): fires windows whose end - 1 <= t that have not fired for their
 * current end, and finalises + removes windows whose end - 1 + L <= t. Returns whether `set` changed.
 * Stale timers (a session that grew or merged) find nothing to do.
 */
function fireDue<E, ACC, OUT>(
  ctx: TimerContext<WindowResult<OUT>>,
  agg: AggregateFunction<E, ACC, OUT>,
  set: WindowSet<ACC>,
  t: number,
  register: boolean,
): boolean {
  const lateness = ctx.allowedLatenessMs;
  let changed = false;
  for (let w = 0; w < set.a.length; w++) {
    const m = w * STRIDE;
    const end = set.m[m + 1] as number;
    if (set.m[m + 4] !== end) {
      if (end - 1 > t) continue;
      emitWindow(ctx, agg, set, w, lateness === 0 ? 'final' : 'provisional');
      changed = true;
      if (lateness === 0) {
        removeWindow(set, w--);
        continue;
      }
      if (register) ctx.timers.registerEventTime(end - 1 + lateness);
    }
    if (lateness > 0 && end - 1 + lateness <= t) {
      emitWindow(ctx, agg, set, w, 'final');
      removeWindow(set, w--);
      changed = true;
    }
  }
  return changed;
}

/** Emits window w with the next revision, and records revision, anchor and firedEnd. */
function emitWindow<E, ACC, OUT>(
  ctx: ElementContext<WindowResult<OUT>> | TimerContext<WindowResult<OUT>>,
  agg: AggregateFunction<E, ACC, OUT>,
  set: WindowSet<ACC>,
  w: number,
  kind: ResultKind,
): void {
  const m = w * STRIDE;
  const revision = (set.m[m + 2] as number) + 1;
  let anchor = set.m[m + 3] as number;
  if (Number.isNaN(anchor)) anchor = set.m[m] as number;
  set.m[m + 2] = revision;
  set.m[m + 3] = anchor;
  set.m[m + 4] = set.m[m + 1] as number;
  ctx.emit(resultOf(ctx.key, set, w, kind, revision, agg), String(anchor));
}

function resultOf<E, ACC, OUT>(
  key: string,
  set: WindowSet<ACC>,
  w: number,
  kind: ResultKind,
  revision: number,
  agg: AggregateFunction<E, ACC, OUT>,
): WindowResult<OUT> {
  const m = w * STRIDE;
  return {
    key,
    start: set.m[m] as number,
    end: set.m[m + 1] as number,
    kind,
    revision,
    value: agg.result(set.a[w] as ACC),
  };
}

function mod(a: number, b: number): number {
  const r = a % b;
  return r < 0 ? r + b : r;
}

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name))
    throw new StreamError('BAD_NAME', `window operator name ${JSON.stringify(name)}`);
}
