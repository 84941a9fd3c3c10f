/**
 * Done-when of issue #5: the same input, shuffled within the out-of-orderness bound, gives
 * identical outputs. "Within the bound": no element arrives after one whose event time exceeds its
 * own by more than outOfOrdernessMs — generated as arrival order = sort by (eventTime + delay),
 * delay in [0, bound].
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { at, driver, type TaskOutput } from '../src/index.js';
import { jobWith, sample, sessions, sliding, status1m } from './support/status-job.js';

const B = 2000;
const opts = { outOfOrdernessMs: B, allowedLatenessMs: 30_000, idleTimeoutMs: 30_000 };
const job = jobWith(status1m, sliding, sessions);
const KEYS = ['r-1', 'r-2', 'r-3'];

interface Ev {
  readonly key: string;
  readonly eventTime: number;
  readonly voltageMv: number;
  readonly speedMmS: number;
}

/**
 * Per key, strictly increasing event times: mostly dense (gaps under 1.5 s, so a shuffle within 2 s
 * really reorders a key's own samples), sometimes 11-25 s (sessions close, windows are skipped).
 */
const input = fc
  .array(
    fc.record({
      key: fc.constantFrom(...KEYS),
      gap: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 1, max: 1500 }) },
        { weight: 1, arbitrary: fc.integer({ min: 11_000, max: 25_000 }) },
      ),
      voltageMv: fc.integer({ min: 12_000, max: 16_800 }),
      speedMmS: fc.integer({ min: -500, max: 500 }),
    }),
    { minLength: 40, maxLength: 300 },
  )
  .map((rows) => {
    const last = new Map<string, number>();
    return rows.map(({ key, gap, voltageMv, speedMmS }): Ev => {
      const eventTime = (last.get(key) ?? at('10:00')) + gap;
      last.set(key, eventTime);
      return { key, eventTime, voltageMv, speedMmS };
    });
  });

/** Arrival order: by eventTime + delay (delay in [0, B]), ties by input position. */
function arrival(events: readonly Ev[], delays: readonly number[]): Ev[] {
  return events
    .map((e, i) => ({ e, i, at: e.eventTime + (delays[i % delays.length] ?? 0) }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((x) => x.e);
}

async function outputs(events: readonly Ev[], batch: number): Promise<TaskOutput[]> {
  const t = await driver(job, opts);
  for (let i = 0; i < events.length; i += batch) {
    t.sendBatch(
      events.slice(i, i + batch).map((e) => ({
        key: e.key,
        value: sample(e.eventTime, { robotId: e.key, voltageMv: e.voltageMv, speedMmS: e.speedMmS }),
      })),
    );
  }
  t.advanceProcessingTime('10m'); // idle partition: everything fires and is finalised
  // Emission order across keys may differ; the rows written (by id, revision) must not.
  return t.outputs().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : rev(a) - rev(b)));
}

const rev = (o: TaskOutput): number => (o.type === 'emit' ? (o.value as { revision: number }).revision : 0);

describe('determinism', () => {
  it('the same input shuffled within the out-of-orderness bound gives identical outputs', async () => {
    await fc.assert(
      fc.asyncProperty(
        input,
        fc.array(fc.integer({ min: 0, max: B }), { minLength: 7, maxLength: 50 }),
        fc.array(fc.integer({ min: 0, max: B }), { minLength: 7, maxLength: 50 }),
        fc.integer({ min: 1, max: 8 }),
        async (events, delaysA, delaysB, batch) => {
          const sorted = await outputs(arrival(events, [0]), 1);
          const a = await outputs(arrival(events, delaysA), batch);
          const b = await outputs(arrival(events, delaysB), 1);
          expect(a).toEqual(sorted);
          expect(b).toEqual(sorted);
          expect(sorted.some((o) => o.type === 'late')).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });
});
