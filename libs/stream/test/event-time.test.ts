import { describe, expect, it } from 'vitest';
import { at, driver } from '../src/index.js';
import { presence, sample, statusJob } from './support/status-job.js';

const opts = { outOfOrdernessMs: 2000, allowedLatenessMs: 30_000, idleTimeoutMs: 30_000 };

describe('watermarks', () => {
  it('never go backwards, per key and per partition', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:10')));
    expect(t.task.keyWatermark('r-1')).toBe(at('10:00:08'));
    expect(t.watermark).toBe(at('10:00:08'));
    t.send('r-1', sample(at('10:00:05'))); // older: changes nothing
    expect(t.task.keyWatermark('r-1')).toBe(at('10:00:08'));
    expect(t.watermark).toBe(at('10:00:08'));
  });

  it('the partition watermark is the minimum over active keys', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:10')));
    t.send('r-2', sample(at('10:00:20'), { robotId: 'r-2' }));
    expect(t.watermark).toBe(at('10:00:08'));
    expect(t.task.keyWatermark('r-2')).toBe(at('10:00:18'));
  });
});

describe('an idle partition', () => {
  it('closes its windows by processing time: watermark = now - idleTimeout - outOfOrderness', async () => {
    const t = await driver(statusJob, opts); // processing clock starts at 10:00:00
    t.send('r-1', sample(at('10:00:05')));
    t.send('r-1', sample(at('10:00:30')));
    t.advanceProcessingTime('29s');
    expect(t.watermark).toBe(at('10:00:28')); // r-1 still active
    t.advanceProcessingTime('1s'); // 10:00:30: r-1 silent for 30 s, no active key left
    expect(t.watermark).toBe(at('10:00:28')); // idle rule gives 09:59:58: the watermark never goes back
    t.advanceProcessingTime('61s'); // 10:01:31: watermark 10:00:59
    expect(t.results()).toEqual([]);
    t.advanceProcessingTime('1s'); // 10:01:32: watermark 10:01:00 = window end
    expect(t.watermark).toBe(at('10:01:00'));
    expect(t.results()).toMatchObject([
      { key: 'r-1', start: at('10:00'), kind: 'provisional', value: { samples: 2 } },
    ]);
    t.advanceProcessingTime('30s');
    expect(t.results().map((r) => r.kind)).toEqual(['provisional', 'final']);
    expect(t.metrics()).toMatchObject({ keys: 1, activeKeys: 0, idleKeys: 1, pendingTimers: { event: 0 } });
  });

  it('a silent key stops holding back the others, and its windows close with the partition', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:10')));
    t.send('r-2', sample(at('10:00:40'), { robotId: 'r-2' })); // r-2 then goes silent
    for (let s = 41; s <= 100; s++) {
      t.advanceProcessingTime('1s');
      t.send('r-1', sample(at('10:00:00') + s * 1000));
    }
    // r-2 idle since 10:00:30 processing time; r-1 alone drives the partition to 10:01:38.
    expect(t.watermark).toBe(at('10:01:38'));
    expect(t.results().map((r) => [r.key, r.start, r.kind])).toEqual([
      ['r-1', at('10:00'), 'provisional'],
      ['r-2', at('10:00'), 'provisional'], // by the partition watermark, at the same batch end
      ['r-1', at('10:00'), 'final'],
      ['r-2', at('10:00'), 'final'],
    ]);
  });
});

describe('an offline robot', () => {
  it('does not hold back the partition; its own windows wait for its backlog, processed in its own event time', async () => {
    const t = await driver(statusJob, opts);
    t.send('r-1', sample(at('10:00:05')));
    t.send('r-2', sample(at('10:00:05'), { robotId: 'r-2' }));
    t.send('r-2', presence('r-2', false, at('10:00:06')), { topic: 'presence' });
    expect(t.metrics()).toMatchObject({ offlineKeys: 1, detachedKeys: 1 });
    for (let s = 6; s <= 70; s++) t.send('r-1', sample(at('10:00:00') + s * 1000));
    expect(t.watermark).toBe(at('10:01:08')); // r-2 (at 10:00:03) holds nothing back
    expect(t.results().map((r) => r.key)).toEqual(['r-1']);

    // Reconnects two minutes later and flushes its spool: not late, its window fires on its own watermark.
    t.advanceProcessingTime('2m');
    t.send('r-2', presence('r-2', true, at('10:02:06')), { topic: 'presence' });
    for (let s = 6; s <= 62; s += 4) t.send('r-2', sample(at('10:00:00') + s * 1000, { robotId: 'r-2' }));
    expect(t.late()).toEqual([]);
    expect(t.results().filter((r) => r.key === 'r-2')).toMatchObject([
      { start: at('10:00'), kind: 'provisional', revision: 0, value: { samples: 15 } },
    ]);
    // Caught up with the partition (10:00:60 - 2 s < P): it is still replaying, so still detached.
    expect(t.metrics().detachedKeys).toBe(1);
  });

  it('rejoins the partition after offlineHold: its windows then close, and a later backlog is late', async () => {
    const t = await driver(statusJob, { ...opts, offlineHoldMs: 3_600_000 });
    t.send('r-2', sample(at('10:00:05'), { robotId: 'r-2' }));
    t.offline('r-2');
    t.advanceProcessingTime('59m');
    expect(t.results()).toEqual([]);
    t.advanceProcessingTime('1m');
    // Idle partition: the watermark jumps to 11:00:00 - 32 s, past end and end + lateness.
    expect(t.results()).toMatchObject([
      { key: 'r-2', kind: 'provisional' },
      { key: 'r-2', kind: 'final' },
    ]);
    expect(t.metrics()).toMatchObject({ offlineKeys: 0, detachedKeys: 0 });
    t.send('r-2', sample(at('10:00:30'), { robotId: 'r-2' }));
    expect(t.late()).toMatchObject([{ key: 'r-2', reason: 'beyond_allowed_lateness' }]);
  });
});
