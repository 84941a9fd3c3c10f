/**
 * The packed window store (what a PartitionTask uses) against the KeyGroupState form of the same
 * window operators (`op.fn` alone): identical outputs, and checkpoints of the KeyGroupState form
 * restore into the packed one (same StateChange records).
 */
import { structCodec } from '@fleet/state';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { at, driver, type JobDriver, type Operator } from '../src/index.js';
import { WindowStore } from '../src/windows/window-store.js';
import { windowSetCodec, type WindowSet } from '../src/windows/window-set.js';
import { jobWith, presence, sample, sessions, sliding, status1m, type Input } from './support/status-job.js';

const opts = { outOfOrdernessMs: 2000, allowedLatenessMs: 30_000, idleTimeoutMs: 30_000 };
/** The same operators without `instantiate`: state in the KeyGroupState, one timer per window action. */
const unpacked = (op: Operator<Input, unknown>): Operator<Input, unknown> => ({ name: op.name, fn: op.fn });

const steps: ((t: JobDriver<Input>) => void)[] = [
  (t) => t.send('r-1', sample(at('10:00:05'), { voltageMv: 14_000 })),
  (t) => t.send('r-2', sample(at('10:00:06'), { robotId: 'r-2' })),
  (t) => t.send('r-1', sample(at('10:00:40'), { speedMmS: 100 })),
  (t) => t.send('r-2', presence('r-2', false, at('10:00:20')), { topic: 'presence' }),
  (t) => t.send('r-1', sample(at('10:01:05'), { mode: 'docking' })),
  (t) => t.send('r-1', sample(at('10:00:50'))),
  (t) => t.send('r-3', sample(at('10:01:20'), { robotId: 'r-3' })),
  (t) => t.send('r-3', sample(at('10:01:50'), { robotId: 'r-3' })),
  (t) => t.send('r-3', sample(at('10:01:29'), { robotId: 'r-3' })),
  (t) => t.advanceProcessingTime('20s'),
  (t) => t.send('r-2', presence('r-2', true, at('10:01:00')), { topic: 'presence' }),
  (t) => t.send('r-2', sample(at('10:00:30'), { robotId: 'r-2' })),
  (t) => t.send('r-1', sample(at('10:02:30'))),
  (t) => t.advanceProcessingTime('5m'),
];

describe('packed window store', () => {
  it('gives the outputs of the KeyGroupState form, whose checkpoints it restores', async () => {
    const packedJob = jobWith(status1m, sliding, sessions);
    const plainJob = jobWith(unpacked(status1m), unpacked(sliding), unpacked(sessions));
    const run = async (job: typeof packedJob) => {
      const t = await driver(job, opts);
      for (const step of steps) step(t);
      return t.outputs();
    };
    const reference = await run(plainJob);
    expect(reference.length).toBeGreaterThan(10);
    expect(await run(packedJob)).toEqual(reference);

    // A checkpoint of the KeyGroupState form (as written before the packed store existed) restores
    // into the packed form after any step, with the same outputs. (Not the reverse: the packed
    // form keeps one timer per key, the other form expects one per window action.)
    for (let i = 0; i < steps.length; i++) {
      const t = await driver(plainJob, opts);
      for (const step of steps.slice(0, i + 1)) step(t);
      // The driver restores into a fresh task of its job: swap the job for the packed one.
      Object.assign(t, { job: packedJob });
      await t.checkpointAndRestore();
      for (const step of steps.slice(i + 1)) step(t);
      expect(t.outputs(), `restored after step ${i}`).toEqual(reference);
    }
  });
});

describe('packed window store checkpoints', () => {
  const fields = ['n', 'sum', 'min'] as const;
  const acc = structCodec(fields);
  const windowsOf = (sizeMs: number | undefined) =>
    fc
      .array(
        fc.record({
          start: fc.integer({ min: 0, max: 1e6 }).map((x) => x * 1000),
          len: fc.integer({ min: 1, max: 120 }).map((x) => x * 1000),
          revision: fc.integer({ min: -1, max: 40 }),
          anchored: fc.boolean(),
          fired: fc.boolean(),
          acc: fc.record({
            n: fc.integer({ min: 0, max: 1e6 }),
            sum: fc.double({ noNaN: true }),
            min: fc.double({ noNaN: true }),
          }),
        }),
        { minLength: 1, maxLength: 4 },
      )
      .map((ws): WindowSet<Record<(typeof fields)[number], number>> => {
        const m: number[] = [];
        const a: Record<(typeof fields)[number], number>[] = [];
        for (const w of [...ws].sort((x, y) => x.start - y.start)) {
          const end = w.start + (sizeMs ?? w.len);
          m.push(w.start, end, w.revision, w.anchored ? w.start : NaN, w.fired ? end : NaN);
          a.push(w.acc);
        }
        return { m, a };
      });

  for (const sizeMs of [60_000, undefined]) {
    it(`writes each changed key's windows in windowSetCodec bytes (${sizeMs === undefined ? 'sessions' : 'fixed size'})`, () => {
      fc.assert(
        fc.property(fc.array(windowsOf(sizeMs), { minLength: 1, maxLength: 30 }), (sets) => {
          const store = new WindowStore({ name: 'w', accCodec: acc, sizeMs });
          sets.forEach((set, k) => store.store(k, set));
          const names = sets.map((_, k) => `r-${k}`);
          const changes = store.takeChanges(names);
          const codec = windowSetCodec(acc);
          expect(changes.map((c) => c.key)).toEqual(names);
          changes.forEach((c, k) => {
            const set = sets[k] as WindowSet<Record<(typeof fields)[number], number>>;
            expect([...(c.value as Uint8Array)]).toEqual([...codec.encode(set)]);
            expect(c.writtenAt).toBe(set.m[(set.a.length - 1) * 5]);
          });
          expect(store.takeChanges(names)).toEqual([]);
        }),
      );
    });
  }
});
