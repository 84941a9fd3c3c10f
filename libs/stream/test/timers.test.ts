import type { TelemetrySample } from '@fleet/protocol';
import { float64Codec, type StateDescriptor } from '@fleet/state';
import { describe, expect, it } from 'vitest';
import { at, driver, operator } from '../src/index.js';
import { jobWith, sample } from './support/status-job.js';

const opts = { outOfOrdernessMs: 2000, allowedLatenessMs: 30_000, idleTimeoutMs: 30_000 };
const armed: StateDescriptor<number> = { name: 'silence_armed', kind: 'value', codec: float64Codec };

/** Alerts when a robot sends nothing for 10 s of EVENT time; pings 5 s of PROCESSING time after each sample. */
const watchdog = operator<TelemetrySample, string>('watchdog', {
  processElement(s, ctx) {
    const state = ctx.state.value(armed);
    const previous = state.get();
    if (previous !== undefined) ctx.timers.deleteEventTime(previous);
    state.set(s.eventTime + 10_000);
    ctx.timers.registerEventTime(s.eventTime + 10_000);
    ctx.timers.registerEventTime(s.eventTime + 10_000); // duplicate: one timer
    ctx.timers.registerProcessingTime(ctx.processingTime + 5000);
  },
  onTimer(t, ctx) {
    ctx.emit(`${ctx.domain}:${ctx.key}@${new Date(t).toISOString().slice(11, 19)}`);
    if (ctx.domain === 'event') ctx.state.value(armed).clear();
  },
});

describe('timers', () => {
  it('fire in event time when the key watermark passes them, once, and not when deleted', async () => {
    const t = await driver(jobWith(watchdog), opts);
    const events = () => t.emitted<string>().filter((e) => e.startsWith('event'));
    t.send('r-1', sample(at('10:00:00')));
    t.send('r-1', sample(at('10:00:05'))); // replaces the 10:00:10 timer by 10:00:15
    expect(t.metrics().pendingTimers.event).toBe(1);
    t.send('r-1', sample(at('10:00:17'))); // key watermark 10:00:15: not past 10:00:15 yet
    expect(events()).toEqual([]);
    t.send('r-1', sample(at('10:00:17.001')));
    expect(events()).toEqual([]); // 10:00:17 re-armed it to 10:00:27
    // An element is processed BEFORE the watermark advance it causes: 10:00:40 re-arms the
    // 10:00:27 timer before its own watermark (10:00:38) could fire it.
    t.send('r-1', sample(at('10:00:40')));
    expect(events()).toEqual([]);
    // r-1 falls silent: idle partition, the watermark follows the clock past 10:00:50.
    t.advanceProcessingTime('1m22s'); // 10:01:22 - 30 s - 2 s = 10:00:50: not past yet
    expect(events()).toEqual([]);
    t.advanceProcessingTime('1ms');
    expect(events()).toEqual(['event:r-1@10:00:50']);
  });

  it('fire in processing time by the clock, and ties in (timestamp, key) order', async () => {
    const t = await driver(jobWith(watchdog), opts);
    t.send('r-b', sample(at('10:00:00'), { robotId: 'r-b' }));
    t.send('r-a', sample(at('10:00:00'), { robotId: 'r-a' }));
    t.advanceProcessingTime('4s');
    expect(t.emitted()).toEqual([]);
    t.advanceProcessingTime('1s');
    expect(t.emitted()).toEqual(['processing:r-a@10:00:05', 'processing:r-b@10:00:05']);
    // Both keys go idle: the partition watermark fires their event-time timers, again by key.
    t.advanceProcessingTime('1m');
    expect(t.emitted().slice(2)).toEqual(['event:r-a@10:00:10', 'event:r-b@10:00:10']);
    expect(t.metrics().pendingTimers).toEqual({ event: 0, processing: 0 });
  });

  it('survive a checkpoint and restore into a fresh task', async () => {
    const t = await driver(jobWith(watchdog), opts);
    t.send('r-1', sample(at('10:00:00')));
    const cp = await t.checkpointAndRestore();
    expect(cp.taskState.timers['watchdog']).toEqual([['r-1', [at('10:00:10')], [at('10:00:05')]]]);
    t.advanceProcessingTime('5s');
    expect(t.emitted()).toEqual(['processing:r-1@10:00:05']);
    t.advanceProcessingTime('1m'); // idle: watermark 10:01:05 - 32 s
    expect(t.emitted()).toEqual(['processing:r-1@10:00:05', 'event:r-1@10:00:10']);
  });
});
