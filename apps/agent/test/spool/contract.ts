/**
 * The Spool contract, as a suite every implementation runs (in the manner of MQTT.js
 * `test/node/abstract_store.ts`): `describeSpoolContract(name, factory)` from the implementation's
 * own test file, with a factory that gives a fresh, empty storage per test.
 *
 * Nothing here knows how a spool stores records or how finely it drops them when full: the bounded
 * tests check only what spool.ts promises (oldest telemetry first, counted; priority never; the
 * bytes bound), so the same suite holds for a file spool and an in-memory one.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpoolError, type Spool, type SpoolClass, type SpoolRecord } from '../../src/spool/spool.js';

export interface SpoolLimits {
  readonly maxBytes: number;
  readonly priorityMaxBytes?: number;
}

/** One storage under test. */
export interface SpoolHarness {
  /** Opens the spool; after `close()`, opens it again over the same storage (a restart). */
  open(limits: SpoolLimits): Promise<Spool>;
  /** Frees the storage; every spool it opened has been closed. */
  dispose(): Promise<void>;
}

export interface SpoolContractOptions {
  /** fast-check runs per property (default 20). */
  readonly numRuns?: number;
}

/** Room enough that nothing is ever dropped. */
const ROOMY: SpoolLimits = { maxBytes: 4 * 1024 * 1024 };
const CLASSES: readonly SpoolClass[] = ['telemetry', 'priority'];
const ALL = 1_000_000;

/** A payload that says which append it was (so a mix-up shows) and is `size` bytes long. */
export function payloadOf(n: number, size = 80): Uint8Array {
  const bytes = new Uint8Array(Math.max(size, 4));
  new DataView(bytes.buffer).setUint32(0, n, true);
  for (let i = 4; i < bytes.length; i++) bytes[i] = (n + i) & 0xff;
  return bytes;
}

function summary(records: readonly SpoolRecord[]): { id: bigint; cls: SpoolClass; payload: number[] }[] {
  return records.map((r) => ({ id: r.id, cls: r.cls, payload: [...r.payload] }));
}

async function expectSpoolError(promise: Promise<unknown>, code: SpoolError['code']): Promise<SpoolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SpoolError);
  expect((error as SpoolError).code).toBe(code);
  return error as SpoolError;
}

export function describeSpoolContract(
  name: string,
  factory: () => Promise<SpoolHarness>,
  options: SpoolContractOptions = {},
): void {
  const numRuns = options.numRuns ?? 20;

  describe(`Spool contract: ${name}`, () => {
    let harness: SpoolHarness;
    let opened: Spool[] = [];

    beforeEach(async () => {
      harness = await factory();
      opened = [];
    });
    afterEach(async () => {
      for (const spool of opened) await spool.close().catch(() => undefined);
      await harness.dispose();
    });

    async function open(limits: SpoolLimits = ROOMY): Promise<Spool> {
      const spool = await harness.open(limits);
      opened.push(spool);
      return spool;
    }

    async function reopen(spool: Spool, limits: SpoolLimits = ROOMY): Promise<Spool> {
      await spool.close();
      return open(limits);
    }

    it('gives ids that increase in call order across both classes', async () => {
      const spool = await open();
      const records = await Promise.all([
        spool.append('telemetry', payloadOf(1)),
        spool.append('priority', payloadOf(2)),
        spool.appendMany('telemetry', [payloadOf(3), payloadOf(4)]),
        spool.append('telemetry', payloadOf(5)),
      ]).then((r) => r.flat());
      const ids = records.map((r) => r.id);
      expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
      expect(new Set(ids).size).toBe(5);
      expect(records.map((r) => r.cls)).toEqual([
        'telemetry',
        'priority',
        'telemetry',
        'telemetry',
        'telemetry',
      ]);
      expect(records.map((r) => [...r.payload])).toEqual([1, 2, 3, 4, 5].map((n) => [...payloadOf(n)]));
    });

    it('appendMany of nothing resolves to nothing', async () => {
      const spool = await open();
      await expect(spool.appendMany('telemetry', [])).resolves.toEqual([]);
      expect(spool.stats().appended).toBe(0);
    });

    it('peek returns the unacknowledged records of one class, oldest first, at most max', async () => {
      const spool = await open();
      const t = await spool.appendMany(
        'telemetry',
        [1, 2, 3, 4].map((n) => payloadOf(n)),
      );
      const p = await spool.append('priority', payloadOf(9, 3000));
      expect(summary(await spool.peek('telemetry', 3))).toEqual(summary(t.slice(0, 3)));
      expect(summary(await spool.peek('telemetry', ALL))).toEqual(summary(t));
      expect(summary(await spool.peek('priority', ALL))).toEqual(summary([p]));
      expect(await spool.peek('telemetry', 0)).toEqual([]);
      // Peeking takes nothing away.
      expect(await spool.peek('telemetry', ALL)).toHaveLength(4);
    });

    it('peek after an id continues after it, so several batches can be in flight', async () => {
      const spool = await open();
      const t1 = await spool.appendMany(
        'telemetry',
        [1, 2, 3].map((n) => payloadOf(n)),
      );
      const p = await spool.append('priority', payloadOf(4));
      const t2 = await spool.appendMany(
        'telemetry',
        [5, 6, 7].map((n) => payloadOf(n)),
      );
      const all = [...t1, ...t2];
      const first = await spool.peek('telemetry', 2);
      const second = await spool.peek('telemetry', 2, first.at(-1)?.id);
      const third = await spool.peek('telemetry', 10, second.at(-1)?.id);
      expect(summary([...first, ...second, ...third])).toEqual(summary(all));
      // An id of the other class is a valid place to continue from.
      expect(summary(await spool.peek('telemetry', ALL, p.id))).toEqual(summary(t2));
      expect(await spool.peek('telemetry', ALL, all.at(-1)?.id)).toEqual([]);
      expect(summary(await spool.peek('telemetry', ALL, 0n))).toEqual(summary(all));
    });

    it('ack removes records in any order and ignores unknown and repeated ids', async () => {
      const spool = await open();
      const t = await spool.appendMany(
        'telemetry',
        [0, 1, 2, 3, 4, 5, 6, 7].map((n) => payloadOf(n)),
      );
      const p = await spool.appendMany(
        'priority',
        [8, 9].map((n) => payloadOf(n)),
      );
      const ids = (rs: readonly SpoolRecord[], ...at: number[]) => at.map((i) => rs[i]?.id ?? -1n);
      await spool.ack([...ids(t, 6, 1, 3), ...ids(p, 1)]);
      await spool.ack([...ids(t, 1), 999_999_999n, 0n, -5n]);
      expect(summary(await spool.peek('telemetry', ALL))).toEqual(summary([0, 2, 4, 5, 7].map((i) => t[i]!)));
      expect(summary(await spool.peek('priority', ALL))).toEqual(summary([p[0]!]));
      await spool.ack([]);
      const s = spool.stats();
      expect(s.records).toEqual({ telemetry: 5, priority: 1 });
      expect(s.acknowledged).toBe(4);
      expect(s.appended).toBe(10);
    });

    it('an ack made while a peek is pending is honoured by the next peek', async () => {
      const spool = await open();
      const t = await spool.appendMany(
        'telemetry',
        [1, 2, 3].map((n) => payloadOf(n)),
      );
      const acked = spool.ack([t[0]!.id]);
      await acked;
      expect(summary(await spool.peek('telemetry', ALL))).toEqual(summary(t.slice(1)));
    });

    it('stats count what is held, appended and acknowledged, within maxBytes', async () => {
      const spool = await open();
      const empty = spool.stats();
      expect(empty).toMatchObject({
        records: { telemetry: 0, priority: 0 },
        bytes: 0,
        maxBytes: ROOMY.maxBytes,
        droppedTelemetry: 0,
        appended: 0,
        acknowledged: 0,
      });
      const t = await spool.appendMany(
        'telemetry',
        [1, 2, 3].map((n) => payloadOf(n, 100)),
      );
      await spool.append('priority', payloadOf(4, 100));
      const s = spool.stats();
      expect(s.records).toEqual({ telemetry: 3, priority: 1 });
      expect(s.bytes).toBeGreaterThanOrEqual(400);
      expect(s.bytes).toBeLessThanOrEqual(s.maxBytes);
      expect(s.appended).toBe(4);
      await spool.ack(t.map((r) => r.id));
      expect(spool.stats().records).toEqual({ telemetry: 0, priority: 1 });
      expect(spool.stats().acknowledged).toBe(3);
    });

    it('when full, drops the oldest telemetry, counts it, and keeps every priority record', async () => {
      const limits = { maxBytes: 16 * 1024 };
      const spool = await open(limits);
      const priority = await spool.appendMany(
        'priority',
        [1, 2, 3, 4, 5].map((n) => payloadOf(n, 100)),
      );
      const telemetry: SpoolRecord[] = [];
      for (let n = 0; n < 500; n += 10) {
        telemetry.push(
          ...(await spool.appendMany(
            'telemetry',
            Array.from({ length: 10 }, (_, i) => payloadOf(n + i, 100)),
          )),
        );
        expect(spool.stats().bytes).toBeLessThanOrEqual(limits.maxBytes);
      }
      const kept = await spool.peek('telemetry', ALL);
      const s = spool.stats();
      expect(s.droppedTelemetry).toBeGreaterThan(0);
      expect(kept.length + s.droppedTelemetry).toBe(500);
      // What is left is the newest telemetry, in order: the dropped ones are the oldest.
      expect(summary(kept)).toEqual(summary(telemetry.slice(500 - kept.length)));
      expect(summary(await spool.peek('priority', ALL))).toEqual(summary(priority));
      expect(s.records).toEqual({ telemetry: kept.length, priority: 5 });
      // The count survives a restart.
      const again = await reopen(spool, limits);
      expect(again.stats().droppedTelemetry).toBe(s.droppedTelemetry);
    });

    it('rejects priority past priorityMaxBytes with SPOOL_FULL, and telemetry when priority leaves no room', async () => {
      const limits = { maxBytes: 8 * 1024, priorityMaxBytes: 16 * 1024 };
      const spool = await open(limits);
      const accepted: SpoolRecord[] = [];
      let rejected: SpoolError | undefined;
      for (let n = 0; n < 40 && rejected === undefined; n++) {
        try {
          accepted.push(await spool.append('priority', payloadOf(n, 1024)));
        } catch (e) {
          rejected = e as SpoolError;
        }
      }
      expect(rejected).toBeInstanceOf(SpoolError);
      expect(rejected?.code).toBe('SPOOL_FULL');
      expect(accepted.length * 1024).toBeLessThanOrEqual(limits.priorityMaxBytes);
      expect(accepted.length * 1024).toBeGreaterThan(limits.maxBytes);
      // No telemetry left to drop: a telemetry append is refused, nothing is lost.
      await expectSpoolError(spool.append('telemetry', payloadOf(100)), 'SPOOL_FULL');
      expect(summary(await spool.peek('priority', ALL))).toEqual(summary(accepted));
      // Once the broker took the priority records, telemetry fits again.
      await spool.ack(accepted.map((r) => r.id));
      await expect(spool.append('telemetry', payloadOf(101))).resolves.toMatchObject({ cls: 'telemetry' });
    });

    it('close lets queued appends finish; afterwards every call rejects with SPOOL_CLOSED', async () => {
      const spool = await open();
      const pending = spool.append('telemetry', payloadOf(1));
      const closing = spool.close();
      await expect(pending).resolves.toMatchObject({ cls: 'telemetry' });
      await closing;
      await expectSpoolError(spool.append('telemetry', payloadOf(2)), 'SPOOL_CLOSED');
      await expectSpoolError(spool.appendMany('priority', [payloadOf(3)]), 'SPOOL_CLOSED');
      await expectSpoolError(spool.peek('telemetry', 1), 'SPOOL_CLOSED');
      await expectSpoolError(spool.ack([1n]), 'SPOOL_CLOSED');
      expect((await expectSpoolError(spool.peek('telemetry', 1), 'SPOOL_CLOSED')).retriable).toBe(false);
      await expect(spool.close()).resolves.toBeUndefined();
      // The record appended before close is there after a reopen.
      const again = await open();
      expect(await again.peek('telemetry', ALL)).toHaveLength(1);
    });

    it('a reopened spool keeps unacknowledged records, forgets acknowledged ones, and ids keep increasing', async () => {
      let spool = await open();
      const t = await spool.appendMany(
        'telemetry',
        [0, 1, 2, 3, 4, 5].map((n) => payloadOf(n)),
      );
      const p = await spool.appendMany(
        'priority',
        [6, 7].map((n) => payloadOf(n)),
      );
      await spool.ack([t[4]!.id, t[0]!.id, p[1]!.id]);
      spool = await reopen(spool);
      expect(summary(await spool.peek('telemetry', ALL))).toEqual(summary([1, 2, 3, 5].map((i) => t[i]!)));
      expect(summary(await spool.peek('priority', ALL))).toEqual(summary([p[0]!]));
      expect(spool.stats().records).toEqual({ telemetry: 4, priority: 1 });
      const next = await spool.append('telemetry', payloadOf(8));
      expect(next.id).toBeGreaterThan(p[1]!.id);
      // Even with everything acknowledged, ids never go back.
      await spool.ack(
        [...(await spool.peek('telemetry', ALL)), ...(await spool.peek('priority', ALL))].map((r) => r.id),
      );
      spool = await reopen(spool);
      expect(spool.stats().records).toEqual({ telemetry: 0, priority: 0 });
      expect((await spool.append('priority', payloadOf(9))).id).toBeGreaterThan(next.id);
    });

    it('property: random appends, acks, peeks and restarts agree with a list model', async () => {
      type Op =
        | { kind: 'append'; cls: SpoolClass; sizes: number[] }
        | { kind: 'ack'; picks: number[]; unknown: boolean }
        | { kind: 'peek'; cls: SpoolClass; max: number; after: number }
        | { kind: 'reopen' };
      const cls = fc.constantFrom<SpoolClass>(...CLASSES);
      const op: fc.Arbitrary<Op> = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            kind: fc.constant('append' as const),
            cls,
            sizes: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 12 }),
          }),
        },
        {
          weight: 3,
          arbitrary: fc.record({
            kind: fc.constant('ack' as const),
            picks: fc.array(fc.nat(), { maxLength: 10 }),
            unknown: fc.boolean(),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant('peek' as const),
            cls,
            max: fc.integer({ min: 1, max: 20 }),
            after: fc.nat(),
          }),
        },
        { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          const storage = await factory();
          let spool = await storage.open(ROOMY);
          try {
            let model: SpoolRecord[] = [];
            let counter = 0;
            let lastId = 0n;
            for (const o of ops) {
              if (o.kind === 'append') {
                const records = await spool.appendMany(
                  o.cls,
                  o.sizes.map((size) => payloadOf(counter++, size)),
                );
                for (const r of records) {
                  expect(r.id).toBeGreaterThan(lastId);
                  lastId = r.id;
                }
                model.push(...records);
              } else if (o.kind === 'ack') {
                const ids = o.picks
                  .map((i) => model[i % Math.max(model.length, 1)]?.id)
                  .filter((id) => id !== undefined);
                if (o.unknown) ids.push(lastId + 1_000n);
                await spool.ack(ids);
                model = model.filter((r) => !ids.includes(r.id));
              } else if (o.kind === 'peek') {
                const ofClass = model.filter((r) => r.cls === o.cls);
                const after = ofClass[o.after % Math.max(ofClass.length, 1)]?.id ?? 0n;
                const want = ofClass.filter((r) => r.id > after).slice(0, o.max);
                expect(summary(await spool.peek(o.cls, o.max, after))).toEqual(summary(want));
              } else {
                await spool.close();
                spool = await storage.open(ROOMY);
              }
              for (const c of CLASSES) {
                expect(summary(await spool.peek(c, ALL))).toEqual(summary(model.filter((r) => r.cls === c)));
              }
              const held = spool.stats().records;
              expect(held.telemetry + held.priority).toBe(model.length);
            }
          } finally {
            await spool.close();
            await storage.dispose();
          }
        }),
        { numRuns },
      );
    });

    it('property: when full, only the oldest telemetry goes, every drop is counted, priority stays', async () => {
      const limits: SpoolLimits = { maxBytes: 12 * 1024, priorityMaxBytes: 6 * 1024 };
      type Op =
        | { kind: 'append'; cls: SpoolClass; count: number; size: number }
        | { kind: 'ack'; picks: number[] }
        | { kind: 'reopen' };
      const op: fc.Arbitrary<Op> = fc.oneof(
        {
          weight: 6,
          arbitrary: fc.record({
            kind: fc.constant('append' as const),
            cls: fc.constantFrom<SpoolClass>('telemetry', 'telemetry', 'telemetry', 'priority'),
            count: fc.integer({ min: 1, max: 20 }),
            size: fc.integer({ min: 1, max: 200 }),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant('ack' as const),
            picks: fc.array(fc.nat(), { maxLength: 20 }),
          }),
        },
        { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
          const storage = await factory();
          let spool = await storage.open(limits);
          try {
            let model: SpoolRecord[] = [];
            let dropped = 0;
            let counter = 0;
            for (const o of ops) {
              if (o.kind === 'append') {
                try {
                  model.push(
                    ...(await spool.appendMany(
                      o.cls,
                      Array.from({ length: o.count }, () => payloadOf(counter++, o.size)),
                    )),
                  );
                } catch (e) {
                  // Only priority may be refused here: its cap is below maxBytes, so telemetry always has room.
                  expect(o.cls).toBe('priority');
                  expect((e as SpoolError).code).toBe('SPOOL_FULL');
                }
              } else if (o.kind === 'ack') {
                const ids = o.picks
                  .map((i) => model[i % Math.max(model.length, 1)]?.id)
                  .filter((id) => id !== undefined);
                await spool.ack(ids);
                model = model.filter((r) => !ids.includes(r.id));
              } else {
                await spool.close();
                spool = await storage.open(limits);
              }
              const telemetry = model.filter((r) => r.cls === 'telemetry');
              const kept = await spool.peek('telemetry', ALL);
              // The spool's telemetry is the newest part of what the model holds.
              expect(summary(kept)).toEqual(summary(telemetry.slice(telemetry.length - kept.length)));
              dropped += telemetry.length - kept.length;
              const keptIds = new Set(kept.map((r) => r.id));
              model = model.filter((r) => r.cls === 'priority' || keptIds.has(r.id));
              expect(summary(await spool.peek('priority', ALL))).toEqual(
                summary(model.filter((r) => r.cls === 'priority')),
              );
              const s = spool.stats();
              expect(s.droppedTelemetry).toBe(dropped);
              expect(s.bytes).toBeLessThanOrEqual(limits.maxBytes);
            }
          } finally {
            await spool.close();
            await storage.dispose();
          }
        }),
        { numRuns },
      );
    });
  });
}
