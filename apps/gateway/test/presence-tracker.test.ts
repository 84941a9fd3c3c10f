import { describe, expect, it, vi } from 'vitest';
import type { Presence } from '@fleet/protocol';
import { PresenceTracker } from '../src/presence.js';

const robot = { robotId: 'r-1', siteId: 's' };

function tracker(graceMs = 1000) {
  const written: Presence[] = [];
  const t = new PresenceTracker(
    async (p) => {
      written.push(p);
    },
    () => undefined,
    { graceMs, now: () => 1_000_000 },
  );
  return { t, written, states: () => written.map((p) => `${p.online}:${p.reason}`) };
}

describe('PresenceTracker (fake timers; the writer is an in-memory array)', () => {
  it('writes online on the first connection and offline after the grace period', async () => {
    vi.useFakeTimers();
    const { t, states } = tracker();
    t.connected(robot);
    t.disconnected(robot, true);
    await vi.advanceTimersByTimeAsync(999);
    expect(states()).toEqual(['true:connected']);
    await vi.advanceTimersByTimeAsync(1);
    expect(states()).toEqual(['true:connected', 'false:disconnected']);
    t.connected(robot);
    t.disconnected(robot, false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(states()).toEqual(['true:connected', 'false:disconnected', 'true:connected', 'false:last_will']);
    vi.useRealTimers();
  });

  it('writes nothing for a takeover or a reconnect within the grace period', async () => {
    vi.useFakeTimers();
    const { t, states } = tracker();
    t.connected(robot);
    t.disconnected(robot, false); // aedes closes the old connection first ...
    t.connected(robot); // ... then admits the new one
    await vi.advanceTimersByTimeAsync(5000);
    expect(states()).toEqual(['true:connected']);
    t.connected(robot); // two connections at once
    t.disconnected(robot, true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(states()).toEqual(['true:connected']);
    expect(t.online).toBe(1);
    vi.useRealTimers();
  });

  it('flush writes pending offline changes at once (gateway shutdown)', async () => {
    const { t, states } = tracker(60_000);
    t.connected(robot);
    t.disconnected(robot, false);
    await t.flush();
    expect(states()).toEqual(['true:connected', 'false:last_will']);
  });
});
