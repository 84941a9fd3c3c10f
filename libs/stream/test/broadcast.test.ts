/**
 * Unit, through the test driver (simulated time, the real PartitionTask): broadcast state from a
 * compacted topic of robot metadata, read by a keyed operator and reacted to in `onBroadcast`.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createMemoryBackend, jsonCodec, type StateDescriptor } from '@fleet/state';
import { afterEach, describe, expect, it } from 'vitest';
import {
  at,
  BROADCAST_CHANNELS,
  BroadcastStore,
  broadcastState,
  defineJob,
  driver,
  operator,
  PartitionTask,
  StreamError,
  type BroadcastSkippedEvent,
} from '../src/index.js';

interface RobotMeta {
  readonly zone: string;
}
interface Reading {
  readonly t: number;
  readonly dirt: number;
}

const text = new TextDecoder();
const robotMeta = broadcastState<RobotMeta>({
  name: 'robot_meta',
  topic: 'fleet.robot-meta.v1',
  decode(value) {
    const m = JSON.parse(text.decode(value)) as { zone?: unknown };
    if (typeof m.zone !== 'string') throw new TypeError('zone must be a string');
    return { zone: m.zone };
  },
});
const meta = (zone: string) => JSON.stringify({ zone });

const lastZone: StateDescriptor<string> = { name: 'last_zone', kind: 'value', codec: jsonCodec<string>() };

/**
 * Per reading: the reading with the robot's zone as of processing. On a metadata change of a robot
 * it has seen: a `moved` event from the zone it last reported in to the new one (or null).
 */
const zonesJob = defineJob<Reading>({
  name: 'zones',
  read(record, out) {
    if (record.key === null) return;
    const r = record.value as Reading;
    out.element(record.key, r.t, r);
  },
  broadcast: [robotMeta],
  operators: [
    operator<Reading, unknown>('enrich', {
      processElement(r, ctx) {
        const zone = ctx.broadcast(robotMeta).get(ctx.key)?.zone ?? null;
        if (zone !== null) ctx.state.value(lastZone).set(zone);
        ctx.emit({ t: r.t, dirt: r.dirt, zone });
      },
      onBroadcast(change, ctx) {
        if (change.name !== robotMeta.name) return;
        const from = ctx.state.value(lastZone).get() ?? null;
        const to = ctx.broadcast(robotMeta).get(ctx.key)?.zone ?? null;
        if (to === null) ctx.state.value(lastZone).clear();
        else ctx.state.value(lastZone).set(to);
        ctx.emit({ moved: { from, to, deleted: change.deleted } });
      },
    }),
  ],
});

const opts = { outOfOrdernessMs: 0, allowedLatenessMs: 0 };
const reading = (t: string, dirt = 1): Reading => ({ t: at(t), dirt });

describe('broadcast state through the test driver', () => {
  it('enriches a keyed event with the metadata of its robot', async () => {
    const t = await driver(zonesJob, opts);
    // given robot r-1 is in zone A and r-2 in zone B
    t.broadcast(robotMeta, 'r-1', meta('A')).broadcast(robotMeta, 'r-2', meta('B'));
    // when both report
    t.send('r-1', reading('10:00:01')).send('r-2', reading('10:00:02')).send('r-3', reading('10:00:03'));
    // then each reading carries its robot's zone; a robot without metadata has none
    expect(t.emitted('enrich')).toEqual([
      { t: at('10:00:01'), dirt: 1, zone: 'A' },
      { t: at('10:00:02'), dirt: 1, zone: 'B' },
      { t: at('10:00:03'), dirt: 1, zone: null },
    ]);
    expect(t.broadcastMetrics()).toEqual({
      robot_meta: { topic: 'fleet.robot-meta.v1', entries: 2, updates: 2, deletes: 0, malformed: 0 },
    });
  });

  it('applies an update to later results only, and tells the operator as the robot key', async () => {
    const t = await driver(zonesJob, opts);
    t.broadcast(robotMeta, 'r-1', meta('A'));
    t.send('r-1', reading('10:00:01'));
    // when r-1 is moved to zone C at 10:00:10 (processing time)
    t.broadcast(robotMeta, 'r-1', meta('C'), { at: '10:00:10' });
    t.send('r-1', reading('10:00:02'));
    expect(t.now).toBe(at('10:00:10'));
    expect(t.outputs().map((o) => [o.id, o.type === 'emit' ? o.value : undefined])).toEqual([
      [`zones/enrich/r-1/e${at('10:00:01')}.0`, { t: at('10:00:01'), dirt: 1, zone: 'A' }],
      // onBroadcast ran with r-1's state; default id from the broadcast record's log time
      [`zones/enrich/r-1/b${at('10:00:10')}.0`, { moved: { from: 'A', to: 'C', deleted: false } }],
      [`zones/enrich/r-1/e${at('10:00:02')}.0`, { t: at('10:00:02'), dirt: 1, zone: 'C' }],
    ]);
  });

  it('calls onBroadcast only for robots this partition has seen', async () => {
    const t = await driver(zonesJob, opts);
    t.broadcast(robotMeta, 'r-9', meta('A')); // never seen here (another partition's robot)
    expect(t.outputs()).toEqual([]);
    expect(t.metrics().keys).toBe(0);
    t.send('r-9', reading('10:00:01'));
    expect(t.emitted('enrich')).toEqual([{ t: at('10:00:01'), dirt: 1, zone: 'A' }]);
  });

  it('removes an entry on a tombstone', async () => {
    const t = await driver(zonesJob, opts);
    t.broadcast(robotMeta, 'r-1', meta('A'));
    t.send('r-1', reading('10:00:01'));
    // when r-1's metadata is deleted (decommissioned)
    t.broadcast(robotMeta, 'r-1', null, { at: '10:00:05' });
    t.send('r-1', reading('10:00:02'));
    expect(t.emitted('enrich')).toEqual([
      { t: at('10:00:01'), dirt: 1, zone: 'A' },
      { moved: { from: 'A', to: null, deleted: true } },
      { t: at('10:00:02'), dirt: 1, zone: null },
    ]);
    // a tombstone of a key not held changes nothing and calls nothing
    t.broadcast(robotMeta, 'r-1', null);
    expect(t.emitted('enrich')).toHaveLength(3);
    expect(t.broadcastMetrics().robot_meta).toMatchObject({ entries: 0, updates: 1, deletes: 2 });
  });

  describe('a malformed record', () => {
    const skipped: BroadcastSkippedEvent[] = [];
    const listener = (m: unknown) => skipped.push(m as BroadcastSkippedEvent);
    afterEach(() => {
      unsubscribe(BROADCAST_CHANNELS.skipped, listener);
      skipped.length = 0;
    });

    it('is counted and skipped with a diagnostic; the entry keeps its value', async () => {
      subscribe(BROADCAST_CHANNELS.skipped, listener);
      const t = await driver(zonesJob, opts);
      t.broadcast(robotMeta, 'r-1', meta('A'));
      t.send('r-1', reading('10:00:01'));
      // when a record that is not valid metadata arrives (not JSON; then JSON without a zone)
      expect(() => t.broadcast(robotMeta, 'r-1', '{not json')).not.toThrow();
      t.broadcast(robotMeta, 'r-1', '{"zone":7}');
      t.send('r-1', reading('10:00:02'));
      // then r-1 is still in zone A, no hook ran, and both records are counted
      expect(t.emitted('enrich')).toEqual([
        { t: at('10:00:01'), dirt: 1, zone: 'A' },
        { t: at('10:00:02'), dirt: 1, zone: 'A' },
      ]);
      expect(t.broadcastMetrics().robot_meta).toMatchObject({ entries: 1, updates: 1, malformed: 2 });
      expect(skipped).toMatchObject([
        { name: 'robot_meta', topic: 'fleet.robot-meta.v1', offset: 1n, reason: 'bad_value' },
        { name: 'robot_meta', offset: 2n, reason: 'bad_value', error: { message: 'zone must be a string' } },
      ]);
      expect(skipped[0]?.error).toBeInstanceOf(SyntaxError);
    });

    it('without a key, or with a key that is not UTF-8, is counted and skipped', () => {
      subscribe(BROADCAST_CHANNELS.skipped, listener);
      const store = new BroadcastStore([robotMeta]);
      const rec = {
        topic: robotMeta.topic,
        partition: 3,
        timestamp: 0,
        value: new TextEncoder().encode(meta('A')),
      };
      expect(store.apply({ ...rec, offset: 0n, key: null })).toEqual([]);
      expect(store.apply({ ...rec, offset: 1n, key: new Uint8Array([0xff, 0xfe]) })).toEqual([]);
      expect(store.metrics().robot_meta).toMatchObject({ entries: 0, malformed: 2 });
      expect(skipped.map((s) => [s.partition, s.offset, s.reason])).toEqual([
        [3, 0n, 'no_key'],
        [3, 1n, 'bad_key'],
      ]);
    });
  });

  it('is not checkpointed: a restored task reads the broadcast state it is handed', async () => {
    const t = await driver(zonesJob, opts);
    t.broadcast(robotMeta, 'r-1', meta('A'));
    t.send('r-1', reading('10:00:01'));
    const cp = await t.checkpointAndRestore();
    // Only the operator's own keyed state travels; the metadata map does not.
    expect(cp.stateChanges.map((c) => [c.name, c.key])).toEqual([['last_zone', 'r-1']]);
    t.broadcast(robotMeta, 'r-1', meta('B'));
    t.send('r-1', reading('10:00:02'));
    expect(t.emitted('enrich').slice(1)).toEqual([
      { moved: { from: 'A', to: 'B', deleted: false } },
      { t: at('10:00:02'), dirt: 1, zone: 'B' },
    ]);
  });

  it('rejects a state the job did not declare, and bad or duplicate names', async () => {
    const other = broadcastState<string>({ name: 'sites', topic: 'fleet.sites.v1', decode: () => 's' });
    const job = defineJob<Reading>({
      name: 'undeclared',
      read: (r, out) => out.element(r.key ?? '', (r.value as Reading).t, r.value as Reading),
      operators: [
        operator('peek', {
          processElement(_r, ctx) {
            ctx.emit(ctx.broadcast(other).size);
          },
        }),
      ],
    });
    const t = await driver(job, opts);
    expect(() => t.send('r-1', reading('10:00:01'))).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG' }) as unknown as Error,
    );
    expect(() => t.broadcast(other, 'x', 'y')).toThrow(StreamError);
    expect(() => broadcastState({ name: 'Robot-Meta', topic: 't', decode: () => 1 })).toThrow(
      expect.objectContaining({ code: 'BAD_NAME' }) as unknown as Error,
    );
    expect(() => new BroadcastStore([robotMeta, { ...robotMeta, topic: 'other' }])).toThrow(
      expect.objectContaining({ code: 'BAD_NAME' }) as unknown as Error,
    );
    // A task handed a store that lacks one of the job's states
    const state = await createMemoryBackend().open('zones', 0);
    expect(
      () =>
        new PartitionTask(zonesJob, {
          partition: 0,
          state,
          clock: { now: () => 0 },
          broadcast: new BroadcastStore([]),
        }),
    ).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }) as unknown as Error);
  });
});
