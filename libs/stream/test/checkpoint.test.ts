import { describe, expect, it } from 'vitest';
import { at, driver, type JobDriver } from '../src/index.js';
import { jobWith, presence, sample, sessions, sliding, status1m, type Input } from './support/status-job.js';

const job = jobWith(status1m, sliding, sessions);
const opts = { outOfOrdernessMs: 2000, allowedLatenessMs: 30_000, idleTimeoutMs: 30_000 };

/** A scenario with every kind of event: in order, out of order, late, beyond lateness, offline, idle. */
const steps: ((t: JobDriver<Input>) => void)[] = [
  (t) => t.send('r-1', sample(at('10:00:05'), { voltageMv: 14_000 })),
  (t) => t.send('r-2', sample(at('10:00:06'), { robotId: 'r-2' })),
  (t) => t.send('r-1', sample(at('10:00:40'), { speedMmS: 100 })),
  (t) => t.send('r-1', sample(at('10:00:38'))),
  (t) => t.advanceProcessingTime('10s'),
  (t) => t.send('r-2', presence('r-2', false, at('10:00:20')), { topic: 'presence' }),
  (t) => t.send('r-1', sample(at('10:01:05'), { mode: 'docking' })),
  (t) => t.send('r-1', sample(at('10:00:50'))),
  (t) => t.send('r-3', sample(at('10:01:20'), { robotId: 'r-3' })),
  (t) => t.send('r-3', sample(at('10:01:35'), { robotId: 'r-3' })),
  (t) => t.send('r-3', sample(at('10:01:50'), { robotId: 'r-3' })),
  (t) => t.send('r-3', sample(at('10:01:29'), { robotId: 'r-3' })), // bridges two fired sessions
  (t) => t.send('r-1', sample(at('10:00:20'))),
  (t) => t.advanceProcessingTime('20s'),
  (t) => t.send('r-1', sample(at('10:01:50'))),
  (t) => t.send('r-2', presence('r-2', true, at('10:01:00')), { topic: 'presence' }),
  (t) => t.send('r-2', sample(at('10:00:30'), { robotId: 'r-2' })),
  (t) => t.send('r-2', sample(at('10:01:30'), { robotId: 'r-2' })),
  (t) => t.advanceProcessingTime('45s'),
  (t) => t.send('r-1', sample(at('10:02:30'))),
  (t) => t.advanceProcessingTime('5m'),
];

async function run(restoreAfter: ReadonlySet<number>) {
  const t = await driver(job, opts);
  for (const [i, step] of steps.entries()) {
    step(t);
    if (restoreAfter.has(i)) await t.checkpointAndRestore();
  }
  return { outputs: t.outputs(), metrics: t.metrics() };
}

describe('checkpoint and restore', () => {
  it('a restore after any step gives the outputs of an uninterrupted run', async () => {
    const reference = await run(new Set());
    expect(reference.outputs.filter((o) => o.type === 'emit').length).toBeGreaterThan(10);
    expect(reference.outputs.some((o) => o.type === 'late')).toBe(true);
    const kinds = new Set(
      reference.outputs.map((o) => (o.type === 'emit' ? (o.value as { kind: string }).kind : o.type)),
    );
    expect([...kinds].sort()).toEqual(['corrected', 'final', 'late', 'provisional', 'retracted']);
    for (let i = 0; i < steps.length; i++) {
      const restored = await run(new Set([i]));
      expect(restored.outputs, `restored after step ${i}`).toEqual(reference.outputs);
      // Everything but what differs by construction (pending outputs were handed over; memory).
      const same = (m: typeof reference.metrics) => ({ ...m, stateMemoryBytes: 0, pendingOutputs: 0 });
      expect(same(restored.metrics)).toEqual(same(reference.metrics));
    }
  });

  it('restores after every step, several times over', async () => {
    const reference = await run(new Set());
    const everyStep = await run(new Set(steps.map((_, i) => i)));
    expect(everyStep.outputs).toEqual(reference.outputs);
  });

  it('hands over incremental state changes, outputs and next offsets per topic', async () => {
    const t = await driver(job, opts);
    t.send('r-1', sample(at('10:00:05')));
    t.send('r-1', presence('r-1', true, at('10:00:05')), { topic: 'presence' });
    const first = t.checkpoint();
    expect(first.offsets).toEqual({ telemetry: 1n, presence: 1n });
    expect(first.stateChanges.map((c) => c.name).sort()).toEqual([
      'cleaning_sessions',
      'status_1m',
      'status_sliding',
    ]);
    expect(t.checkpoint().stateChanges).toEqual([]);
    expect(JSON.parse(JSON.stringify(first.taskState))).toEqual(first.taskState); // plain JSON
  });
});
