/**
 * Integration, real PostgreSQL (the run's server, a database of this suite's own): the checkpoint
 * store's transaction and its epoch fencing, with a real PartitionTask and the memory backend.
 */
import { randomBytes } from 'node:crypto';
import { createDatabase, createPool, dropDatabase, migrate } from '@fleet/db';
import { createMemoryBackend, type StateChange } from '@fleet/state';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FencedError, PartitionTask, PgCheckpointStore, type TaskRecord } from '../../src/index.js';
import { keyedCounts } from './support/jobs.js';

// (A lib cannot import @fleet/testing: its database comes straight from @fleet/db.)
declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

const DB_NAME = `stream_ckpt_${randomBytes(4).toString('hex')}`;
let pool: ReturnType<typeof createPool>;
let store: PgCheckpointStore;
const T0 = Date.UTC(2025, 0, 1);
const clock = { now: () => T0 };

beforeAll(async () => {
  const { url } = await createDatabase(inject('databaseUrl'), DB_NAME);
  pool = createPool({ url, max: 4 });
  await migrate(pool);
  store = new PgCheckpointStore(pool);
});
afterAll(async () => {
  await pool.end();
  await dropDatabase(inject('databaseUrl'), DB_NAME);
});

const enc = new TextEncoder();
let offset = 0n;
const rec = (key: string, t: number, v: number): TaskRecord => ({
  topic: 'in',
  offset: offset++,
  key,
  value: enc.encode(JSON.stringify({ t, v })),
  timestamp: t,
});

async function task(partition: number) {
  const state = await createMemoryBackend().open('counts', partition);
  return new PartitionTask(keyedCounts, {
    partition,
    state,
    clock,
    outOfOrdernessMs: 0,
    allowedLatenessMs: 0,
  });
}

describe('PgCheckpointStore', () => {
  it('commits state, outputs, offsets and task state in one transaction and restores them', async () => {
    const claim = await store.claim('counts', 0, 'a', { sessionTimeoutMs: 5000 });
    expect(claim?.epoch).toBe(1n);
    const t = await task(0);
    t.process([rec('k1', T0 + 1000, 2), rec('k1', T0 + 2000, 3), rec('k1', T0 + 61_000, 1)]);
    await store.commit(claim!, 1n, t.checkpoint(), [
      { id: 'o-1', topic: 'out', key: 'k1', value: enc.encode('x') },
    ]);

    const outputs = await pool.query('SELECT id, kind, revision, payload FROM stream_outputs');
    expect(outputs.rows).toEqual([
      {
        id: 'counts/counts_1m/k1/' + String(T0),
        kind: 'final',
        revision: 0,
        payload: expect.objectContaining({ value: { count: 2, sum: 5 } }),
      },
    ]);
    const loaded = await store.load('counts', 0);
    expect(loaded.checkpointId).toBe(1n);
    expect(loaded.offsets).toEqual({ in: 3n });
    expect(loaded.entries.length).toBeGreaterThan(0);

    const fresh = await task(0);
    await fresh.restore({ entries: loaded.entries, taskState: loaded.taskState!, offsets: loaded.offsets });
    fresh.process([rec('k1', T0 + 62_000, 4), rec('k1', T0 + 121_000, 0)]);
    const second = fresh.checkpoint();
    expect(second.outputs).toMatchObject([{ value: { start: T0 + 60_000, value: { count: 2, sum: 5 } } }]);
    expect((await store.pendingOutbox('counts', [0], 10)).map((r) => r.id)).toEqual(['o-1']);
  });

  it('fences the previous owner: its commit fails with FencedError and writes nothing', async () => {
    const a = await store.claim('counts', 1, 'a', { sessionTimeoutMs: 60_000 });
    const t = await task(1);
    t.process([rec('k2', T0 + 1000, 1)]);
    await store.commit(a!, 1n, t.checkpoint(), []);
    // A live owner holds it: b cannot claim it until a is dead or released.
    await pool.query("INSERT INTO stream_instances (job, instance_id) VALUES ('counts', 'a')");
    expect(await store.claim('counts', 1, 'b', { sessionTimeoutMs: 60_000 })).toBeUndefined();
    // a's lease expires (heartbeat older than the session timeout): b takes over with a new epoch.
    await pool.query("UPDATE stream_instances SET heartbeat_at = now() - interval '2 minutes'");
    const b = await store.claim('counts', 1, 'b', { sessionTimeoutMs: 60_000 });
    expect(b?.epoch).toBe(2n);

    t.process([rec('k2', T0 + 70_000, 1)]);
    const error = await store
      .commit(a!, 2n, t.checkpoint(), [{ id: 'zombie', topic: 'out', key: 'k2', value: enc.encode('z') }])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(FencedError);
    expect(error).toMatchObject({ code: 'FENCED', partition: 1, epoch: 1n });
    const rows = await pool.query(
      "SELECT (SELECT count(*) FROM stream_outbox WHERE id = 'zombie')::int AS outbox, (SELECT checkpoint_id FROM stream_task_state WHERE job = 'counts' AND partition = 1)::int AS cp, (SELECT count(*) FROM stream_outputs WHERE partition = 1)::int AS outputs",
    );
    expect(rows.rows).toEqual([{ outbox: 0, cp: 1, outputs: 0 }]);
    // The new owner commits; releasing makes the partition free for anyone.
    await store.commit(b!, 2n, (await task(1)).checkpoint(), []);
    expect(await store.release(b!)).toBe(true);
    expect((await store.claim('counts', 1, 'c', { sessionTimeoutMs: 60_000 }))?.epoch).toBe(3n);
  });

  it('deletes published outbox rows of the given partitions past the retention, never pending ones', async () => {
    const claim = await store.claim('retention', 0, 'a', { sessionTimeoutMs: 60_000 });
    const other = await store.claim('retention', 1, 'a', { sessionTimeoutMs: 60_000 });
    const t0 = await task(0);
    const msg = (id: string) => ({ id, topic: 'out', key: 'k', value: enc.encode(id) });
    await store.commit(claim!, 1n, t0.checkpoint(), [msg('r-old'), msg('r-pending')]);
    await store.commit(other!, 1n, (await task(1)).checkpoint(), [msg('r-other')]);
    await store.markPublished(['r-old', 'r-other']);
    await pool.query(
      "UPDATE stream_outbox SET published_at = now() - interval '2 hours' WHERE id LIKE 'r-%' AND published_at IS NOT NULL",
    );

    // Within the retention: nothing goes.
    expect(await store.deletePublishedOutbox('retention', [0], 3 * 3_600_000)).toBe(0);
    // Past it: only partition 0's published row goes; its pending row and partition 1 stay.
    expect(await store.deletePublishedOutbox('retention', [0], 3_600_000)).toBe(1);
    const { rows } = await pool.query<{ id: string }>(
      "SELECT id FROM stream_outbox WHERE id LIKE 'r-%' ORDER BY id",
    );
    expect(rows.map((r) => r.id)).toEqual(['r-other', 'r-pending']);
    expect((await store.pendingOutbox('retention', [0], 10)).map((r) => r.id)).toEqual(['r-pending']);
  });

  it('appends state as segment rows, restores their merge, compacts them to the same entries, and merges rows left by older versions', async () => {
    const small = new PgCheckpointStore(pool, { maxSegmentBytes: 200 }); // several rows per checkpoint
    const claim = (await small.claim('segments', 0, 'a', { sessionTimeoutMs: 60_000 }))!;
    const t = await task(0);
    const cp = (changes: StateChange[]) => ({ ...t.checkpoint(), stateChanges: changes });
    const put = (key: string, v: number, at = 1): StateChange => ({
      name: 'v',
      key,
      userKey: '',
      value: new Uint8Array([v]),
      writtenAt: at,
    });
    const del = (key: string): StateChange => ({ name: 'v', key, userKey: '', value: null, writtenAt: 9 });
    // Rows of an older version (per entry, in stream_state): the segments apply after them.
    await pool.query(
      `INSERT INTO stream_state (job, partition, name, key, user_key, value, written_at)
       VALUES ('segments', 0, 'v', 'legacy', '', '\\x07', 3), ('segments', 0, 'v', 'k-0', '', '\\x63', 3)`,
    );
    const r1 = await small.commit(claim, 1n, cp(Array.from({ length: 20 }, (_, i) => put(`k-${i}`, i))), []);
    expect(r1.segments).toBeGreaterThan(1);
    await small.commit(claim, 2n, cp([put('k-1', 101, 2), del('k-2'), del('legacy')]), []);
    await small.commit(claim, 3n, cp([]), []); // no state change: no row

    const byKey = (entries: readonly StateChange[]) =>
      Object.fromEntries(entries.map((e) => [e.key, [...(e.value ?? [])][0]]));
    const expected: Record<string, number | undefined> = {
      ...byKey(Array.from({ length: 20 }, (_, i) => put(`k-${i}`, i))),
      'k-1': 101,
    };
    delete expected['k-2'];
    const loaded = await small.load('segments', 0);
    expect(byKey(loaded.entries)).toEqual(expected);
    expect(loaded.segments).toBe(2 + r1.segments + 1);
    expect(loaded.entries.find((e) => e.key === 'k-1')?.writtenAt).toBe(2);

    const c = await small.compact(claim);
    expect(c).toMatchObject({ replaced: loaded.segments, entries: 19 });
    const compacted = await small.load('segments', 0);
    expect(byKey(compacted.entries)).toEqual(expected);
    expect(compacted.segments).toBe(c.written);
    const legacy = await pool.query("SELECT count(*)::int AS n FROM stream_state WHERE job = 'segments'");
    expect(legacy.rows[0]).toEqual({ n: 0 });

    // Commits after a compaction apply after it.
    await small.commit(claim, 4n, cp([put('k-3', 33, 4), del('k-4')]), []);
    const after = await small.load('segments', 0);
    const expectedAfter: Record<string, number | undefined> = { ...expected, 'k-3': 33 };
    delete expectedAfter['k-4'];
    expect(byKey(after.entries)).toEqual(expectedAfter);

    // A zombie cannot compact.
    const newer = (await small.claim('segments', 0, 'b', { sessionTimeoutMs: 0 }))!;
    expect(newer.epoch).toBe(claim.epoch + 1n);
    await expect(small.compact(claim)).rejects.toBeInstanceOf(FencedError);
    expect(byKey((await small.load('segments', 0)).entries)).toEqual(expectedAfter);
  });
});
