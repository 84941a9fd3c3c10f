/**
 * The packed window store (what a PartitionTask uses) against the KeyGroupState form of the same
 * window operators (`op.fn` alone): identical outputs, and checkpoints of the KeyGroupState form
 * restore into the packed one (same StateChange records).
 */
import { describe, expect, it } from 'vitest';
import { at, driver, type JobDriver, type Operator } from '../src/index.js';
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
