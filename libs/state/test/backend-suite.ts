/**
 * The one test suite every state backend passes (memory.test.ts and level.test.ts run it). It uses
 * only the public contract of api.ts; a backend-specific test belongs in that backend's file.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeyGroupState, StateBackend, StateChange, StateDescriptor } from '../src/index.js';
import { jsonCodec, StateError, structCodec } from '../src/index.js';

export interface BackendUnderTest {
  readonly backend: StateBackend;
  /** A new backend over the same storage, as after a process restart; absent when nothing persists. */
  readonly reopen?: () => Promise<StateBackend>;
  readonly cleanup: () => Promise<void>;
}

export interface SuiteOptions {
  readonly create: () => Promise<BackendUnderTest>;
  /** Property-test runs (each creates fresh backends). */
  readonly propertyRuns?: number;
  /** The backend keeps state on disk: the restart tests are registered (they need `reopen`). */
  readonly persistent?: boolean;
}

const num = jsonCodec<number>();
const counter: StateDescriptor<number> = { name: 'counter', kind: 'value', codec: num };
const zones: StateDescriptor<number> = { name: 'zones', kind: 'map', codec: num };
const path: StateDescriptor<number> = { name: 'path', kind: 'list', codec: num };
const accCodec = structCodec(['count', 'sum', 'min', 'max', 'last']);
type Acc = ReturnType<typeof accCodec.decode>;
const window: StateDescriptor<Acc> = { name: 'battery_window', kind: 'aggregating', codec: accCodec };
const meanOf = {
  create: (): Acc => ({ count: 0, sum: 0, min: Infinity, max: -Infinity, last: 0 }),
  add: (a: Acc, x: number): Acc => {
    a.count++;
    a.sum += x;
    a.min = Math.min(a.min, x);
    a.max = Math.max(a.max, x);
    a.last = x;
    return a;
  },
  result: (a: Acc) => ({ mean: a.sum / a.count, min: a.min, max: a.max }),
};
const seen: StateDescriptor<number> = { name: 'last_seen', kind: 'value', codec: num, ttlMs: 500 };
const seenMap: StateDescriptor<number> = { name: 'seen_zones', kind: 'map', codec: num, ttlMs: 500 };

function sorted(changes: StateChange[]): StateChange[] {
  const id = (c: StateChange) => `${c.name}\0${c.key}\0${c.userKey}`;
  return [...changes].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}

function decoded(changes: StateChange[]) {
  return sorted(changes).map((c) => ({
    name: c.name,
    key: c.key,
    userKey: c.userKey,
    value: c.value === null ? null : Buffer.from(c.value).toString('hex'),
  }));
}

async function expectStateError(fn: () => unknown, code: StateError['code']): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StateError);
  expect((caught as StateError).code).toBe(code);
}

export function backendSuite(label: string, options: SuiteOptions): void {
  describe(`state backend suite: ${label}`, () => {
    let current: BackendUnderTest | undefined;
    afterEach(async () => {
      await current?.cleanup();
      current = undefined;
    });
    async function openState(partition = 0): Promise<KeyGroupState> {
      current = await options.create();
      return current.backend.open('job_a', partition);
    }

    describe('value state', () => {
      it('reads undefined until set, then the last value; clear removes it', async () => {
        const s = await openState();
        expect(s.value(counter, 'r1').get()).toBeUndefined();
        s.value(counter, 'r1').set(1);
        s.value(counter, 'r1').set(2);
        expect(s.value(counter, 'r1').get()).toBe(2);
        expect(s.value(counter, 'r2').get()).toBeUndefined();
        s.value(counter, 'r1').clear();
        expect(s.value(counter, 'r1').get()).toBeUndefined();
      });

      it('keeps states of different names apart for the same key', async () => {
        const s = await openState();
        const other: StateDescriptor<number> = { name: 'other', kind: 'value', codec: num };
        s.value(counter, 'r1').set(1);
        s.value(other, 'r1').set(9);
        expect(s.value(counter, 'r1').get()).toBe(1);
        expect(s.value(other, 'r1').get()).toBe(9);
      });
    });

    describe('map state', () => {
      it('sets, reads, tests and deletes user keys', async () => {
        const s = await openState();
        const m = s.map(zones, 'r1');
        expect(m.get('kitchen')).toBeUndefined();
        expect(m.has('kitchen')).toBe(false);
        m.set('kitchen', 3);
        m.set('hall', 1);
        expect(m.get('kitchen')).toBe(3);
        expect(m.has('hall')).toBe(true);
        m.delete('hall');
        m.delete('never-there');
        expect(m.has('hall')).toBe(false);
        expect(s.map(zones, 'r2').get('kitchen')).toBeUndefined();
        m.clear();
        expect([...m.entries()]).toEqual([]);
      });

      it('lists entries in ascending UTF-8 byte order of the user key', async () => {
        const s = await openState();
        const m = s.map(zones, 'r1');
        // JS (UTF-16) order would put the emoji (a surrogate pair) before U+FFFF; UTF-8 puts it after.
        const keys = ['b', 'a', '\uFFFF', '😀', 'ab', '', 'Z', 'é'];
        keys.forEach((k, i) => m.set(k, i));
        const order = [...m.entries()].map(([k]) => k);
        const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect(order).toEqual(byBytes);
        expect(order.indexOf('😀')).toBeGreaterThan(order.indexOf('\uFFFF'));
      });
    });

    describe('list state', () => {
      it('appends, replaces and clears', async () => {
        const s = await openState();
        const l = s.list(path, 'r1');
        expect(l.get()).toEqual([]);
        l.add(1);
        l.add(2);
        expect(s.list(path, 'r1').get()).toEqual([1, 2]);
        l.replace([7, 8, 9]);
        expect(l.get()).toEqual([7, 8, 9]);
        l.replace([]);
        expect(l.get()).toEqual([]);
        l.add(4);
        l.clear();
        expect(l.get()).toEqual([]);
      });
    });

    describe('aggregating state', () => {
      it('folds inputs into the accumulator and reads the result', async () => {
        const s = await openState();
        const agg = s.aggregating(window, meanOf, 'r1');
        expect(agg.get()).toBeUndefined();
        agg.add(10);
        s.aggregating(window, meanOf, 'r1').add(20);
        expect(agg.get()).toEqual({ mean: 15, min: 10, max: 20 });
        agg.clear();
        expect(agg.get()).toBeUndefined();
        agg.add(5);
        expect(agg.get()).toEqual({ mean: 5, min: 5, max: 5 });
      });
    });

    describe('keys()', () => {
      it('lists every key with an entry in the named state, and only those', async () => {
        const s = await openState();
        for (const k of ['r1', 'r2', 'r3']) s.value(counter, k).set(1);
        s.value(counter, 'r2').clear();
        s.map(zones, 'r4').set('a', 1);
        s.map(zones, 'r5').set('a', 1);
        s.map(zones, 'r5').delete('a');
        expect([...s.keys('counter')].sort()).toEqual(['r1', 'r3']);
        expect([...s.keys('zones')]).toEqual(['r4']);
        expect([...s.keys('never_used')]).toEqual([]);
      });
    });

    describe('TTL', () => {
      it('reads an entry as absent once ttl has passed since its last write, and expire() deletes it', async () => {
        const s = await openState();
        s.setTime(1_000);
        s.value(seen, 'r1').set(1);
        s.value(seen, 'r2').set(2);
        s.map(seenMap, 'r1').set('a', 1);
        s.setTime(1_200);
        s.map(seenMap, 'r1').set('b', 2);
        s.value(seen, 'r2').set(3); // refreshes r2's write time
        s.takeChanges();
        s.setTime(1_499);
        expect(s.value(seen, 'r1').get()).toBe(1);
        s.setTime(1_500);
        expect(s.value(seen, 'r1').get()).toBeUndefined();
        expect(s.value(seen, 'r2').get()).toBe(3);
        expect(s.map(seenMap, 'r1').has('a')).toBe(false);
        expect(s.map(seenMap, 'r1').get('b')).toBe(2);
        expect([...s.map(seenMap, 'r1').entries()]).toEqual([['b', 2]]);
        expect([...s.keys('last_seen')]).toEqual(['r2']);
        expect(s.takeChanges()).toEqual([]); // reading an expired entry changes nothing
        expect(s.expire(1_500)).toBe(2);
        expect(decoded(s.takeChanges())).toEqual([
          { name: 'last_seen', key: 'r1', userKey: '', value: null },
          { name: 'seen_zones', key: 'r1', userKey: 'a', value: null },
        ]);
        expect(s.expire(1_500)).toBe(0);
        expect(s.expire(1_700)).toBe(2);
        expect([...s.keys('last_seen')]).toEqual([]);
        expect([...s.keys('seen_zones')]).toEqual([]);
      });

      it('starts a fresh accumulator or list when the stored one has expired', async () => {
        const s = await openState();
        const agg: StateDescriptor<Acc> = { ...window, name: 'short_window', ttlMs: 100 };
        const list: StateDescriptor<number> = { ...path, name: 'short_path', ttlMs: 100 };
        s.setTime(0);
        s.aggregating(agg, meanOf, 'r1').add(10);
        s.list(list, 'r1').add(1);
        s.setTime(100);
        s.aggregating(agg, meanOf, 'r1').add(20);
        s.list(list, 'r1').add(2);
        expect(s.aggregating(agg, meanOf, 'r1').get()).toEqual({ mean: 20, min: 20, max: 20 });
        expect(s.list(list, 'r1').get()).toEqual([2]);
      });

      it('keeps entries without ttl for ever', async () => {
        const s = await openState();
        s.setTime(0);
        s.value(counter, 'r1').set(1);
        s.setTime(Number.MAX_SAFE_INTEGER);
        expect(s.expire(Number.MAX_SAFE_INTEGER)).toBe(0);
        expect(s.value(counter, 'r1').get()).toBe(1);
      });
    });

    describe('takeChanges()', () => {
      it('returns the entries changed since the last call, last write winning, then forgets them', async () => {
        const s = await openState();
        s.setTime(5);
        s.value(counter, 'r1').set(1);
        s.value(counter, 'r1').set(2);
        s.map(zones, 'r1').set('a', 1);
        s.list(path, 'r1').add(1);
        s.list(path, 'r1').add(2);
        s.aggregating(window, meanOf, 'r1').add(4);
        const changes = s.takeChanges();
        expect(changes).toHaveLength(4);
        const byName = new Map(changes.map((c) => [c.name, c]));
        expect(num.decode(byName.get('counter')?.value as Uint8Array)).toBe(2);
        expect(byName.get('counter')?.writtenAt).toBe(5);
        expect(byName.get('zones')?.userKey).toBe('a');
        expect(accCodec.decode(byName.get('battery_window')?.value as Uint8Array).sum).toBe(4);
        expect(s.takeChanges()).toEqual([]);
      });

      it('reports a put then a delete in the same interval as a delete', async () => {
        const s = await openState();
        s.value(counter, 'r1').set(1);
        s.value(counter, 'r1').clear();
        s.map(zones, 'r1').set('a', 1);
        s.map(zones, 'r1').clear();
        expect(decoded(s.takeChanges())).toEqual([
          { name: 'counter', key: 'r1', userKey: '', value: null },
          { name: 'zones', key: 'r1', userKey: 'a', value: null },
        ]);
      });

      it('never reports untouched keys or user keys', async () => {
        const s = await openState();
        for (let i = 0; i < 50; i++) s.value(counter, `r${i}`).set(i);
        s.map(zones, 'm').set('a', 1);
        s.map(zones, 'm').set('b', 2);
        s.takeChanges();
        s.value(counter, 'r7').set(70);
        s.map(zones, 'm').set('b', 3);
        expect(s.value(counter, 'r8').get()).toBe(8); // a read is not a change
        expect(decoded(s.takeChanges())).toEqual([
          { name: 'counter', key: 'r7', userKey: '', value: Buffer.from(num.encode(70)).toString('hex') },
          { name: 'zones', key: 'm', userKey: 'b', value: Buffer.from(num.encode(3)).toString('hex') },
        ]);
      });
    });

    describe('restore()', () => {
      it('replaces the content, reads back every kind, and leaves the changes log empty', async () => {
        const s = await openState();
        s.value(counter, 'gone').set(1);
        s.map(zones, 'r1').set('old', 1);
        s.setTime(42);
        const other = await options.create();
        const src = await other.backend.open('job_src', 1);
        src.setTime(42);
        src.value(counter, 'r1').set(5);
        src.map(zones, 'r1').set('b', 2);
        src.map(zones, 'r1').set('a', 1);
        src.list(path, 'r1').replace([3, 1, 2]);
        src.aggregating(window, meanOf, 'r1').add(8);
        const checkpoint = src.takeChanges();
        await src.close();
        await other.cleanup();

        await s.restore(checkpoint);
        expect(s.takeChanges()).toEqual([]);
        expect(s.value(counter, 'gone').get()).toBeUndefined();
        expect(s.value(counter, 'r1').get()).toBe(5);
        expect([...s.map(zones, 'r1').entries()]).toEqual([
          ['a', 1],
          ['b', 2],
        ]);
        expect(s.list(path, 'r1').get()).toEqual([3, 1, 2]);
        expect(s.aggregating(window, meanOf, 'r1').get()).toEqual({ mean: 8, min: 8, max: 8 });
        expect([...s.keys('counter')]).toEqual(['r1']);
        s.value(counter, 'r1').set(6);
        expect(decoded(s.takeChanges())).toEqual([
          { name: 'counter', key: 'r1', userKey: '', value: Buffer.from(num.encode(6)).toString('hex') },
        ]);
      });

      it('restores before any descriptor is used, and keeps write times for TTL', async () => {
        const s = await openState();
        await s.restore([
          { name: 'last_seen', key: 'r1', userKey: '', value: num.encode(1), writtenAt: 1_000 },
          { name: 'last_seen', key: 'r2', userKey: '', value: num.encode(2), writtenAt: 1_400 },
        ]);
        expect([...s.keys('last_seen')].sort()).toEqual(['r1', 'r2']);
        s.setTime(1_600);
        expect(s.value(seen, 'r1').get()).toBeUndefined();
        expect(s.value(seen, 'r2').get()).toBe(2);
        expect(s.expire(1_600)).toBe(1);
      });
    });

    describe('errors', () => {
      it('rejects a descriptor name outside [a-z][a-z0-9_]* with BAD_NAME', async () => {
        const s = await openState();
        for (const name of ['', 'Battery', '1x', 'a-b', 'a b', 'é']) {
          await expectStateError(() => s.value({ name, kind: 'value', codec: num }, 'r1'), 'BAD_NAME');
        }
      });

      it('rejects one name used as two kinds with KIND_MISMATCH', async () => {
        const s = await openState();
        s.value(counter, 'r1').set(1);
        await expectStateError(
          () => s.map({ name: 'counter', kind: 'map', codec: num }, 'r1'),
          'KIND_MISMATCH',
        );
        await expectStateError(() => s.list(counter, 'r1'), 'KIND_MISMATCH');
      });

      it('rejects every use after close with CLOSED', async () => {
        const s = await openState();
        const v = s.value(counter, 'r1');
        v.set(1);
        await s.close();
        await expectStateError(() => v.get(), 'CLOSED');
        await expectStateError(() => v.set(2), 'CLOSED');
        await expectStateError(() => s.value(counter, 'r1'), 'CLOSED');
        await expectStateError(() => s.takeChanges(), 'CLOSED');
        await expectStateError(() => s.restore([]), 'CLOSED');
        await expectStateError(() => s.prefetch(['r1']), 'CLOSED');
        await expectStateError(() => [...s.keys('counter')], 'CLOSED');
      });
    });

    describe('partitions', () => {
      it('keeps partitions apart, finds a closed partition again on open, and drop() deletes it', async () => {
        const s0 = await openState(0);
        const backend = (current as BackendUnderTest).backend;
        const s1 = await backend.open('job_a', 1);
        s0.value(counter, 'r1').set(1);
        s1.value(counter, 'r1').set(2);
        await s0.close();
        const again = await backend.open('job_a', 0);
        expect(again.value(counter, 'r1').get()).toBe(1);
        await again.close();
        await backend.drop('job_a', 0);
        const fresh = await backend.open('job_a', 0);
        expect(fresh.value(counter, 'r1').get()).toBeUndefined();
        expect(s1.value(counter, 'r1').get()).toBe(2);
      });

      it('keeps memoryBytes() positive and growing with the number of keys', async () => {
        const s = await openState();
        const before = s.memoryBytes();
        for (let i = 0; i < 1000; i++) s.aggregating(window, meanOf, `robot-${i}`).add(i);
        const after = s.memoryBytes();
        expect(after).toBeGreaterThan(before + 1000 * 50);
        expect(after).toBeLessThan(before + 1000 * 2000);
      });
    });

    // Registered only for backends that keep state on disk (no skipped tests).
    if (options.persistent === true) {
      describe('persistence across a restart', () => {
        it('keeps state and untaken changes through close and a new backend on the same storage', async () => {
          const s = await openState(3);
          const under = current as BackendUnderTest;
          if (under.reopen === undefined)
            throw new Error('a persistent backend under test must give reopen()');
          s.setTime(7);
          s.value(counter, 'r1').set(1);
          s.map(zones, 'r1').set('a', 1);
          s.takeChanges();
          s.value(counter, 'r2').set(2);
          s.list(path, 'r2').add(5);
          await s.close();
          const again = await (await under.reopen()).open('job_a', 3);
          expect(again.value(counter, 'r1').get()).toBe(1);
          expect(again.map(zones, 'r1').get('a')).toBe(1);
          expect(again.list(path, 'r2').get()).toEqual([5]);
          expect([...again.keys('counter')].sort()).toEqual(['r1', 'r2']);
          expect(decoded(again.takeChanges()).map((c) => `${c.name}/${c.key}`)).toEqual([
            'counter/r2',
            'path/r2',
          ]);
          await again.close();
        });
      });
    }

    describe('property: random operations', () => {
      it('reads like a simple model, and replaying takeChanges() into a fresh backend gives the same state', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 60 }), async (ops) => {
            const a = await options.create();
            const b = await options.create();
            try {
              await checkAgainstModel(a.backend, b.backend, ops);
            } finally {
              await a.cleanup();
              await b.cleanup();
            }
          }),
          { numRuns: options.propertyRuns ?? 100 },
        );
      });
    });
  });
}

// --- property test ------------------------------------------------------------------------------

const K = ['r1', 'r2', 'r3'];
const UK = ['a', 'b', '😀', '\uFFFF'];
const pVal: StateDescriptor<number> = { name: 'p_val', kind: 'value', codec: num };
const pTtl: StateDescriptor<number> = { name: 'p_ttl', kind: 'value', codec: num, ttlMs: 10 };
const pMap: StateDescriptor<number> = { name: 'p_map', kind: 'map', codec: num, ttlMs: 15 };
const pList: StateDescriptor<number> = { name: 'p_list', kind: 'list', codec: num };
const pAgg: StateDescriptor<number> = { name: 'p_agg', kind: 'aggregating', codec: num };
const sum = { create: () => 0, add: (a: number, x: number) => a + x, result: (a: number) => a };

type Op =
  | { op: 'set'; d: 'val' | 'ttl'; key: string; v: number }
  | { op: 'clear'; d: 'val' | 'ttl' | 'list' | 'agg'; key: string }
  | { op: 'mset'; key: string; uk: string; v: number }
  | { op: 'mdel'; key: string; uk: string }
  | { op: 'mclear'; key: string }
  | { op: 'ladd'; key: string; v: number }
  | { op: 'lreplace'; key: string; vs: number[] }
  | { op: 'aadd'; key: string; v: number }
  | { op: 'time'; dt: number }
  | { op: 'expire' }
  | { op: 'take' }
  | { op: 'reopen' };

const key = fc.constantFrom(...K);
const v = fc.integer({ min: -5, max: 5 });
const operation: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), d: fc.constantFrom('val' as const, 'ttl' as const), key, v }),
  fc.record({
    op: fc.constant('clear' as const),
    d: fc.constantFrom('val' as const, 'ttl' as const, 'list' as const, 'agg' as const),
    key,
  }),
  fc.record({ op: fc.constant('mset' as const), key, uk: fc.constantFrom(...UK), v }),
  fc.record({ op: fc.constant('mdel' as const), key, uk: fc.constantFrom(...UK) }),
  fc.record({ op: fc.constant('mclear' as const), key }),
  fc.record({ op: fc.constant('ladd' as const), key, v }),
  fc.record({ op: fc.constant('lreplace' as const), key, vs: fc.array(v, { maxLength: 3 }) }),
  fc.record({ op: fc.constant('aadd' as const), key, v }),
  fc.record({ op: fc.constant('time' as const), dt: fc.integer({ min: 0, max: 8 }) }),
  fc.constant({ op: 'expire' as const }),
  fc.constant({ op: 'take' as const }),
  fc.constant({ op: 'reopen' as const }),
);

interface Cell<T> {
  v: T;
  t: number;
}

/** The obvious implementation of the contract, to compare against. */
class Model {
  now = 0;
  val = new Map<string, Cell<number>>();
  ttl = new Map<string, Cell<number>>();
  map = new Map<string, Map<string, Cell<number>>>();
  list = new Map<string, Cell<number[]>>();
  agg = new Map<string, Cell<number>>();

  liveTtl(key: string): number | undefined {
    const c = this.ttl.get(key);
    return c !== undefined && c.t + 10 > this.now ? c.v : undefined;
  }
  liveMap(key: string): [string, number][] {
    const inner = this.map.get(key);
    if (inner === undefined) return [];
    return [...inner]
      .filter(([, c]) => c.t + 15 > this.now)
      .map(([uk, c]): [string, number] => [uk, c.v])
      .sort((x, y) => Buffer.compare(Buffer.from(x[0]), Buffer.from(y[0])));
  }
  apply(op: Op): void {
    const cell = <T>(v: T): Cell<T> => ({ v, t: this.now });
    switch (op.op) {
      case 'set':
        (op.d === 'val' ? this.val : this.ttl).set(op.key, cell(op.v));
        return;
      case 'clear':
        ({ val: this.val, ttl: this.ttl, list: this.list, agg: this.agg })[op.d].delete(op.key);
        return;
      case 'mset': {
        const inner = this.map.get(op.key) ?? new Map<string, Cell<number>>();
        inner.set(op.uk, cell(op.v));
        this.map.set(op.key, inner);
        return;
      }
      case 'mdel':
        this.map.get(op.key)?.delete(op.uk);
        if (this.map.get(op.key)?.size === 0) this.map.delete(op.key);
        return;
      case 'mclear':
        this.map.delete(op.key);
        return;
      case 'ladd':
        this.list.set(op.key, cell([...(this.list.get(op.key)?.v ?? []), op.v]));
        return;
      case 'lreplace':
        if (op.vs.length === 0) this.list.delete(op.key);
        else this.list.set(op.key, cell([...op.vs]));
        return;
      case 'aadd':
        this.agg.set(op.key, cell((this.agg.get(op.key)?.v ?? 0) + op.v));
        return;
      case 'time':
        this.now += op.dt;
        return;
      case 'expire':
        for (const [k, c] of this.ttl) if (c.t + 10 <= this.now) this.ttl.delete(k);
        for (const [k, inner] of this.map) {
          for (const [uk, c] of inner) if (c.t + 15 <= this.now) inner.delete(uk);
          if (inner.size === 0) this.map.delete(k);
        }
        return;
      case 'take':
      case 'reopen':
        return;
    }
  }
}

function apply(s: KeyGroupState, op: Op): void {
  switch (op.op) {
    case 'set':
      s.value(op.d === 'val' ? pVal : pTtl, op.key).set(op.v);
      return;
    case 'clear':
      if (op.d === 'val' || op.d === 'ttl') s.value(op.d === 'val' ? pVal : pTtl, op.key).clear();
      else if (op.d === 'list') s.list(pList, op.key).clear();
      else s.aggregating(pAgg, sum, op.key).clear();
      return;
    case 'mset':
      s.map(pMap, op.key).set(op.uk, op.v);
      return;
    case 'mdel':
      s.map(pMap, op.key).delete(op.uk);
      return;
    case 'mclear':
      s.map(pMap, op.key).clear();
      return;
    case 'ladd':
      s.list(pList, op.key).add(op.v);
      return;
    case 'lreplace':
      s.list(pList, op.key).replace(op.vs);
      return;
    case 'aadd':
      s.aggregating(pAgg, sum, op.key).add(op.v);
      return;
    case 'time':
      return;
    case 'expire':
    case 'take':
    case 'reopen':
      return;
  }
}

function snapshot(s: KeyGroupState) {
  const out: Record<string, unknown> = {};
  for (const k of K) {
    out[k] = {
      val: s.value(pVal, k).get(),
      ttl: s.value(pTtl, k).get(),
      map: [...s.map(pMap, k).entries()],
      has: UK.filter((uk) => s.map(pMap, k).has(uk)),
      list: [...s.list(pList, k).get()],
      agg: s.aggregating(pAgg, sum, k).get(),
    };
  }
  out['keys'] = ['p_val', 'p_ttl', 'p_map', 'p_list', 'p_agg'].map((n) => [...s.keys(n)].sort());
  return out;
}

function modelSnapshot(m: Model) {
  const out: Record<string, unknown> = {};
  for (const k of K) {
    out[k] = {
      val: m.val.get(k)?.v,
      ttl: m.liveTtl(k),
      map: m.liveMap(k),
      has: UK.filter((uk) => m.liveMap(k).some(([x]) => x === uk)),
      list: [...(m.list.get(k)?.v ?? [])],
      agg: m.agg.get(k)?.v,
    };
  }
  out['keys'] = [
    [...m.val.keys()],
    K.filter((k) => m.liveTtl(k) !== undefined),
    K.filter((k) => m.liveMap(k).length > 0),
    [...m.list.keys()],
    [...m.agg.keys()],
  ].map((ks) => ks.sort());
  return out;
}

async function checkAgainstModel(
  backend: StateBackend,
  fresh: StateBackend,
  ops: readonly Op[],
): Promise<void> {
  const model = new Model();
  let s = await backend.open('prop', 0);
  const log: StateChange[] = [];
  for (const op of ops) {
    model.apply(op);
    if (op.op === 'time') s.setTime(model.now);
    else if (op.op === 'expire') s.expire(model.now);
    else if (op.op === 'take') log.push(...s.takeChanges());
    else if (op.op === 'reopen') {
      await s.close();
      s = await backend.open('prop', 0);
      s.setTime(model.now);
    } else apply(s, op);
    expect(snapshot(s)).toEqual(modelSnapshot(model));
  }
  log.push(...s.takeChanges());
  expect(s.takeChanges()).toEqual([]);
  const replica = await fresh.open('prop', 0);
  await replica.restore(log);
  replica.setTime(model.now);
  expect(replica.takeChanges()).toEqual([]);
  expect(snapshot(replica)).toEqual(snapshot(s));
  await s.close();
  await replica.close();
}
