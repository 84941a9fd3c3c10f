import { describe, expect, it } from 'vitest';
import { at, driver } from '../src/index.js';
import { jobWith, sample, sessions, sliding, statusJob, type Status } from './support/status-job.js';

const B = 2000;
const opts = { outOfOrdernessMs: B, allowedLatenessMs: 30_000 };

describe('tumbling windows', () => {
  it('emit a provisional result when the watermark passes the window end (in order)', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:05'), { voltageMv: 14_000 }));
    t.send('r-1', sample(at('10:00:30'), { voltageMv: 14_200, mode: 'docking' }));
    t.send('r-1', sample(at('10:01:01'))); // key watermark 10:00:59: not yet
    expect(t.results()).toEqual([]);
    t.send('r-1', sample(at('10:01:02'))); // key watermark 10:01:00 = window end: fires
    expect(t.outputs()).toEqual([
      {
        type: 'emit',
        id: `fleet/status_1m/r-1/${at('10:00')}`,
        operator: 'status_1m',
        key: 'r-1',
        timestamp: at('10:00:59.999'),
        value: {
          key: 'r-1',
          start: at('10:00'),
          end: at('10:01'),
          kind: 'provisional',
          revision: 0,
          value: { samples: 2, avgVoltageMv: 14_100, distanceMm: 7500, mode: 'docking' },
        },
      },
    ]);
  });

  it('count an element that arrives out of order within the bound in its window', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:58')));
    t.send('r-1', sample(at('10:01:01'))); // watermark 10:00:59
    t.send('r-1', sample(at('10:00:59.5'))); // behind the newest, not behind the watermark
    t.send('r-1', sample(at('10:01:02.5')));
    expect(t.results<Status>().map((r) => [r.kind, r.value.samples])).toEqual([['provisional', 2]]);
    expect(t.late()).toEqual([]);
    expect(t.metrics().lateWithinLateness).toBe(0);
  });

  it('re-emit a fired window as corrected when a late element within lateness arrives, then final after the lateness', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:10')));
    t.send('r-1', sample(at('10:01:10'))); // watermark 10:01:08: [10:00, 10:01) provisional
    t.send('r-1', sample(at('10:00:50'))); // 18 s late: within 30 s
    expect(t.results<Status>().map((r) => [r.start, r.kind, r.revision, r.value.samples])).toEqual([
      [at('10:00'), 'provisional', 0, 1],
      [at('10:00'), 'corrected', 1, 2],
    ]);
    t.send('r-1', sample(at('10:01:32'))); // watermark 10:01:30 = end + lateness: final, state cleared
    const last = t.results().at(-1);
    expect(last).toMatchObject({ start: at('10:00'), kind: 'final', revision: 2, value: { samples: 2 } });
    // One row per window: every revision has the same id.
    expect(
      new Set(
        t
          .outputs()
          .filter((o) => o.type === 'emit' && o.timestamp < at('10:01:30'))
          .map((o) => o.id),
      ),
    ).toEqual(new Set([`fleet/status_1m/r-1/${at('10:00')}`]));
    expect(t.metrics().lateWithinLateness).toBe(1);
  });

  it('send an element beyond the allowed lateness to the late-data output, counted, without touching the window', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:10')));
    t.send('r-1', sample(at('10:02:00'))); // watermark 10:01:58
    const before = t.results().length;
    const stale = sample(at('10:01:27.999')); // 30.001 s behind the watermark
    t.send('r-1', stale);
    expect(t.late()).toEqual([
      {
        type: 'late',
        id: 'fleet/late/telemetry/0/2/0',
        reason: 'beyond_allowed_lateness',
        key: 'r-1',
        topic: 'telemetry',
        partition: 0,
        offset: 2n,
        eventTime: at('10:01:27.999'),
        watermark: at('10:01:58'),
        value: stale,
      },
    ]);
    expect(t.results()).toHaveLength(before);
    expect(t.metrics().late).toEqual({ beyond_allowed_lateness: 1, invalid_event_time: 0 });
    // The rule is per element, not per window: [10:01, 10:02) is still open, yet 10:01:27.999 is
    // beyond lateness. Exactly 30 s behind the watermark is still processed:
    t.send('r-1', sample(at('10:01:28')));
    t.send('r-1', sample(at('10:02:02'))); // watermark 10:02:00: [10:01, 10:02) fires
    expect(t.results().at(-1)).toMatchObject({
      start: at('10:01'),
      kind: 'provisional',
      revision: 0,
      value: { samples: 1 },
    });
  });

  it('emit final at once when allowed lateness is 0', async () => {
    const t = await driver(statusJob, { outOfOrdernessMs: B, allowedLatenessMs: 0 });
    t.send('r-1', sample(at('10:00:10')));
    t.send('r-1', sample(at('10:01:02')));
    t.send('r-1', sample(at('10:00:59'))); // behind the watermark: with no lateness, dropped
    expect(t.results<Status>().map((r) => [r.kind, r.revision])).toEqual([['final', 0]]);
    expect(t.late()).toHaveLength(1);
    expect(t.metrics().pendingTimers.event).toBe(1); // only [10:01, 10:02)'s
  });
});

describe('sliding windows', () => {
  it('put each element in size / slide windows and fire each at its end', async () => {
    const t = await driver(jobWith(sliding), opts);
    t.send('r-1', sample(at('10:00:20')));
    t.send('r-1', sample(at('10:00:40')));
    t.send('r-1', sample(at('10:01:10')));
    t.send('r-1', sample(at('10:01:45'))); // watermark 10:01:43
    expect(t.results<Status>().map((r) => [r.start, r.end, r.kind, r.value.samples])).toEqual([
      [at('09:59:30'), at('10:00:30'), 'provisional', 1],
      // One timer at 10:00:59.999 closes [09:59:30, 10:00:30) (end + 30 s lateness) and fires
      // [10:00, 10:01); windows of one timer go in start order.
      [at('09:59:30'), at('10:00:30'), 'final', 1],
      [at('10:00:00'), at('10:01:00'), 'provisional', 2],
      [at('10:00:00'), at('10:01:00'), 'final', 2],
      [at('10:00:30'), at('10:01:30'), 'provisional', 2],
    ]);
  });
});

describe('session windows', () => {
  it('close a session after the gap, merge sessions bridged by an out-of-order element', async () => {
    const t = await driver(jobWith(sessions), opts);
    t.send('r-1', sample(at('10:00:00')));
    t.send('r-1', sample(at('10:00:11'))); // a second session (gap 10 s); watermark 10:00:09
    t.send('r-1', sample(at('10:00:08'))); // bridges them: one session [10:00:00, 10:00:21)
    t.send('r-1', sample(at('10:00:40'))); // watermark 10:00:38
    expect(t.results<Status>().map((r) => [r.start, r.end, r.kind, r.value.samples])).toEqual([
      [at('10:00:00'), at('10:00:21'), 'provisional', 3],
    ]);
  });

  it('retract a fired session that a late element merges into an earlier one', async () => {
    const t = await driver(jobWith(sessions), opts);
    t.send('r-1', sample(at('10:00:00')));
    t.send('r-1', sample(at('10:00:15')));
    t.send('r-1', sample(at('10:00:40'))); // watermark 10:00:38: both sessions fired
    expect(t.results<Status>().map((r) => [r.start, r.kind])).toEqual([
      [at('10:00:00'), 'provisional'],
      [at('10:00:15'), 'provisional'],
    ]);
    t.send('r-1', sample(at('10:00:09'))); // late (within 30 s), bridges the two
    expect(t.outputs().slice(-2)).toMatchObject([
      { id: `fleet/cleaning_sessions/r-1/${at('10:00:15')}`, value: { kind: 'retracted', revision: 1 } },
      {
        id: `fleet/cleaning_sessions/r-1/${at('10:00:00')}`,
        value: {
          start: at('10:00:00'),
          end: at('10:00:25'),
          kind: 'corrected',
          revision: 1,
          value: { samples: 3 },
        },
      },
    ]);
    t.send('r-1', sample(at('10:01:30'))); // past 10:00:25 + 30 s
    expect(
      t
        .results()
        .filter((r) => r.kind === 'final')
        .map((r) => [r.start, r.end, r.revision]),
    ).toEqual([
      [at('10:00:00'), at('10:00:25'), 2],
      [at('10:00:40'), at('10:00:50'), 1],
    ]);
  });
});
