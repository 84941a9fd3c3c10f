/**
 * Unit, with a STUB metrics source (no runtime behind it): the broadcast series of the stream
 * instance's Prometheus registry follow `broadcastStatus()` at each scrape, and a job without
 * broadcast states has none. The real `broadcastStatus()` is checked against Kafka in
 * libs/stream/test/runtime/broadcast.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { BroadcastStatus } from '@fleet/stream-runtime';
import { createStreamMetrics } from '../src/metrics.js';

function stubSource(broadcast?: () => BroadcastStatus) {
  return {
    status: () => [],
    pendingOutbox: () => Promise.resolve(new Map<number, number>()),
    ...(broadcast === undefined ? {} : { broadcastStatus: broadcast }),
  };
}

const line = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(name));

describe('stream metrics: broadcast state (stub source)', () => {
  it('exports entries, records by outcome, lag and readiness per broadcast state', async () => {
    let status: BroadcastStatus = {
      ready: false,
      states: { robot_meta: { topic: 'meta', entries: 0, updates: 0, deletes: 0, malformed: 0 } },
      lag: { meta: 40n },
    };
    const metrics = createStreamMetrics({ instance: 's-0', job: 'j', source: stubSource(() => status) });
    try {
      let text = await metrics.registry.metrics();
      expect(line(text, 'fleet_stream_broadcast_ready{')).toEqual([
        'fleet_stream_broadcast_ready{job="j",stream_instance="s-0"} 0',
      ]);
      expect(line(text, 'fleet_stream_broadcast_lag_records{')).toEqual([
        'fleet_stream_broadcast_lag_records{job="j",topic="meta",stream_instance="s-0"} 40',
      ]);

      status = {
        ready: true,
        states: { robot_meta: { topic: 'meta', entries: 7, updates: 9, deletes: 2, malformed: 1 } },
        lag: { meta: 0n },
      };
      text = await metrics.registry.metrics();
      expect(line(text, 'fleet_stream_broadcast_ready{')[0]).toMatch(/ 1$/);
      expect(line(text, 'fleet_stream_broadcast_entries{')).toEqual([
        'fleet_stream_broadcast_entries{job="j",state="robot_meta",topic="meta",stream_instance="s-0"} 7',
      ]);
      expect(line(text, 'fleet_stream_broadcast_records_total{')).toEqual([
        'fleet_stream_broadcast_records_total{job="j",state="robot_meta",outcome="update",stream_instance="s-0"} 9',
        'fleet_stream_broadcast_records_total{job="j",state="robot_meta",outcome="delete",stream_instance="s-0"} 2',
        'fleet_stream_broadcast_records_total{job="j",state="robot_meta",outcome="malformed",stream_instance="s-0"} 1',
      ]);
      expect(line(text, 'fleet_stream_broadcast_lag_records{')[0]).toMatch(/ 0$/);
    } finally {
      metrics.close();
    }
  });

  it('has no broadcast series for a job without broadcast states', async () => {
    for (const source of [stubSource(), stubSource(() => ({ ready: true, states: {}, lag: {} }))]) {
      const metrics = createStreamMetrics({ instance: 's-1', job: 'j', source });
      try {
        const text = await metrics.registry.metrics();
        expect(text.split('\n').filter((l) => l.startsWith('fleet_stream_broadcast_'))).toEqual([]);
      } finally {
        metrics.close();
      }
    }
  });
});
