/**
 * Reconnect backoff: exponential with full jitter, taken from the injected random source and
 * waited on the injected clock (mqtt.js's fixed reconnectPeriod is not used).
 */
import { describe, expect, it } from 'vitest';
import { MqttSession } from '../src/publisher/session.js';
import { Backoff } from '../src/retry.js';
import { FakeBroker } from './support/fake-mqtt.js';
import { ManualClock } from './support/manual-clock.js';

describe('Backoff', () => {
  it('doubles its ceiling from initialMs up to maxMs', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('with full jitter draws uniformly from [0, ceiling)', () => {
    const draws = [0, 0.5, 0.999, 0.25];
    let i = 0;
    const b = new Backoff({ initialMs: 1000, maxMs: 60_000, jitter: 1 }, () => draws[i++] ?? 0);
    expect(b.next()).toBe(0); // ceiling 1000 × 0
    expect(b.next()).toBe(1000); // ceiling 2000 × 0.5
    expect(b.next()).toBe(3996); // ceiling 4000 × 0.999
    expect(b.next()).toBe(2000); // ceiling 8000 × 0.25
  });

  it('with partial jitter keeps the fixed share', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 }, () => 0);
    expect(b.next()).toBe(800);
  });

  it('never overflows, however many failures', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 30_000, jitter: 1 }, () => 0.999_999);
    for (let i = 0; i < 5000; i++) b.next();
    expect(b.next()).toBeLessThanOrEqual(30_000);
    expect(b.ceiling()).toBe(30_000);
  });

  it('refuses nonsense settings', () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10, jitter: 1 })).toThrow(RangeError);
    expect(() => new Backoff({ initialMs: 10, maxMs: 5, jitter: 1 })).toThrow(RangeError);
    expect(() => new Backoff({ initialMs: 10, maxMs: 50, jitter: 1.5 })).toThrow(RangeError);
  });
});

describe('MqttSession reconnects on the injected clock (fake MQTT connection)', () => {
  function session(broker: FakeBroker, clock: ManualClock, random: () => number) {
    const events: string[] = [];
    const s = new MqttSession({
      urls: ['mqtt://a:1883', 'mqtt://b:1883'],
      connect: broker.connect,
      clock,
      backoff: new Backoff({ initialMs: 1000, maxMs: 8000, jitter: 1 }, random),
      subscriptions: ['fleet/v1/s/r/cmd'],
      connectOptions: () => ({
        clientId: 'c',
        username: 'r',
        password: undefined,
        protocolVersion: 4,
        keepaliveSeconds: 30,
        connectTimeoutMs: 1000,
        cleanSession: false,
        sessionExpirySeconds: 0,
      }),
      onConnected: () => events.push('up'),
      onDisconnected: () => events.push('down'),
      onMessage: (topic) => events.push(`msg ${topic}`),
    });
    return { s, events };
  }

  it('waits backoff.next() on the clock between attempts, alternating URLs, and resets after a CONNACK', () => {
    const clock = new ManualClock();
    const broker = new FakeBroker();
    const { s, events } = session(broker, clock, () => 0.5);
    s.start();
    expect(broker.connections.map((c) => c.url)).toEqual(['mqtt://a:1883']);
    broker.last.refuse();
    // ceiling 1000, random 0.5 → 500 ms; nothing happens before it.
    clock.advance(499);
    expect(broker.connections).toHaveLength(1);
    clock.advance(1);
    expect(broker.last.url).toBe('mqtt://b:1883');
    broker.last.refuse();
    clock.advance(999); // ceiling 2000 → 1000 ms
    expect(broker.connections).toHaveLength(2);
    clock.advance(1);
    expect(broker.connections).toHaveLength(3);
    broker.last.accept();
    expect(s.connected).toBe(true);
    expect(broker.last.subscriptions).toEqual(['fleet/v1/s/r/cmd']);
    broker.last.drop();
    expect(events).toEqual(['up', 'down']);
    clock.advance(500); // reset: back to ceiling 1000
    expect(broker.connections).toHaveLength(4);
    expect(s.connected).toBe(false);
  });

  it('keeps trying (at the capped backoff) when the broker refuses the credentials, and reports why', () => {
    const clock = new ManualClock();
    const broker = new FakeBroker();
    const { s } = session(broker, clock, () => 0.999);
    s.start();
    for (let i = 0; i < 6; i++) {
      broker.last.refuse(true);
      clock.advance(8000);
    }
    expect(broker.connections).toHaveLength(7);
    expect(s.error?.code).toBe('AGENT_MQTT_AUTH');
  });

  it('stops reconnecting after stop(), and ends gracefully after the last words', async () => {
    const clock = new ManualClock();
    const broker = new FakeBroker();
    const { s } = session(broker, clock, () => 0);
    s.start();
    broker.last.accept();
    const last: string[] = [];
    const stopped = s.stop(async (link) => {
      last.push('offline');
      const p = link.publish('presence', new Uint8Array([1]), { qos: 1, retain: true });
      broker.last.publishes[0]?.ack();
      await p;
    });
    await stopped;
    expect(last).toEqual(['offline']);
    expect(broker.last.ended).toBe('graceful');
    clock.advance(60_000);
    expect(broker.connections).toHaveLength(1);
  });
});
