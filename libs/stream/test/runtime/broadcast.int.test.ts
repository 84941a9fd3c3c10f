/**
 * Integration, real Kafka (the run's broker) and real PostgreSQL (a database of this suite's own):
 * a StreamInstance with broadcast state from a compacted metadata topic of 3 partitions, feeding a
 * keyed job over a 2-partition input topic. Outputs are read back from `stream_outputs`, i.e. as
 * committed by checkpoints.
 *
 * The reader the instance gets fetches at most 256 bytes per partition per poll (one small record
 * batch), so the metadata topic, written one record per produce call, takes many polls: keyed
 * records written before the start would be processed between them unless the instance first reads
 * the metadata topic to its end.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase, createPool, dropDatabase, migrate } from '@fleet/db';
import { createKafkaLog, type Log, type LogAdmin, type LogProducer } from '@fleet/log';
import { createMemoryBackend } from '@fleet/state';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BROADCAST_CHANNELS,
  broadcastState,
  defineJob,
  operator,
  RUNTIME_CHANNELS,
  StreamInstance,
  type BroadcastSkippedEvent,
} from '../../src/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    kafkaBrokers: string;
  }
}

const RUN = randomBytes(4).toString('hex');
const DB_NAME = `stream_bcast_${RUN}`;
const INPUT = `stream.bcast.in.${RUN}`;
const META = `stream.bcast.meta.${RUN}`;
const JOB = `bcast_${RUN}`;
const ROBOTS = Array.from({ length: 8 }, (_, i) => `r-${i}`);
/** The zone each robot's readings carry once the metadata written before start is applied (r-7: tombstoned). */
const FINAL_ZONES: Readonly<Record<string, string | null>> = {
  ...Object.fromEntries(ROBOTS.slice(0, 7).map((r, i) => [r, `Z${i}`])),
  'r-7': null,
};

interface Reading {
  readonly t: number;
  readonly v: number;
}
interface RobotMeta {
  readonly zone: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const robotMeta = broadcastState<RobotMeta>({
  name: 'robot_meta',
  topic: META,
  decode(value) {
    const m = JSON.parse(dec.decode(value)) as { zone?: unknown };
    if (typeof m.zone !== 'string') throw new TypeError('zone must be a string');
    return { zone: m.zone };
  },
});

const job = defineJob<Reading>({
  name: JOB,
  read(record, out) {
    if (record.key === null || !(record.value instanceof Uint8Array)) return;
    const r = JSON.parse(dec.decode(record.value)) as Reading;
    out.element(record.key, r.t, r);
  },
  broadcast: [robotMeta],
  operators: [
    operator<Reading, unknown>('enrich', {
      processElement(r, ctx) {
        ctx.emit({ v: r.v, zone: ctx.broadcast(robotMeta).get(ctx.key)?.zone ?? null }, `v${r.v}`);
      },
      onBroadcast(change, ctx) {
        ctx.emit({ moved: ctx.broadcast(robotMeta).get(change.key)?.zone ?? null });
      },
    }),
  ],
});

let pool: ReturnType<typeof createPool>;
let log: Log;
let admin: LogAdmin;
let producer: LogProducer;

/** The run's Kafka, with a reader of small fetches (see the top of the file). */
const smallFetches = (): Log => ({
  admin: () => log.admin(),
  producer: () => log.producer(),
  reader: (options) => log.reader({ ...options, maxBytesPerPartition: 256, maxBytes: 1024 }),
});

function instance(id: string): StreamInstance<Reading> {
  return new StreamInstance({
    job: { job, inputs: [INPUT], eventTime: { outOfOrdernessMs: 0, idleTimeoutMs: 3_600_000 } },
    instance: `${id}-${RUN}`,
    log: smallFetches(),
    pool,
    backend: createMemoryBackend(),
    checkpointIntervalMs: 200,
    heartbeatMs: 200,
    sessionTimeoutMs: 3000,
    tickMs: 200,
    pollMaxWaitMs: 100,
  });
}

/** One produce call per record: one record batch each (so each fetch returns few of them). */
async function meta(key: string, value: string | null): Promise<void> {
  await producer.send([{ topic: META, key, value: value === null ? null : enc.encode(value) }]);
}
const zone = (z: string) => JSON.stringify({ zone: z });

async function readings(v: number, robots: readonly string[] = ROBOTS): Promise<void> {
  await producer.send(
    robots.map((key) => ({ topic: INPUT, key, value: enc.encode(JSON.stringify({ t: Date.now(), v })) })),
  );
}

interface Row {
  readonly id: string;
  readonly key: string;
  readonly payload: { v?: number; zone?: string | null; moved?: string | null };
}

async function outputs(): Promise<Row[]> {
  const r = await pool.query<Row>('SELECT id, key, payload FROM stream_outputs WHERE job = $1 ORDER BY id', [
    JOB,
  ]);
  return r.rows;
}

/** Committed outputs once `done` holds (the instance works asynchronously). */
async function outputsWhen(done: (rows: readonly Row[]) => boolean, timeoutMs = 30_000): Promise<Row[]> {
  const deadline = Date.now() + timeoutMs;
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    rows = await outputs();
    if (done(rows)) return rows;
    await sleep(100);
  }
  throw new Error(`outputs did not settle: ${JSON.stringify(rows)}`);
}

const readingsOf = (rows: readonly Row[], v: number) =>
  Object.fromEntries(rows.filter((r) => r.payload.v === v).map((r) => [r.key, r.payload.zone]));

beforeAll(async () => {
  const { url } = await createDatabase(inject('databaseUrl'), DB_NAME);
  pool = createPool({ url, max: 4 });
  await migrate(pool);
  log = createKafkaLog({ brokers: inject('kafkaBrokers').split(','), clientId: 'stream-broadcast-test' });
  admin = log.admin();
  producer = log.producer();
  await admin.createTopics([
    { name: INPUT, partitions: 2 },
    { name: META, partitions: 3, compacted: true },
  ]);
});

afterAll(async () => {
  await admin?.deleteTopics([INPUT, META]).catch(() => undefined);
  await Promise.allSettled([producer?.close(), admin?.close()]);
  await pool?.end();
  await dropDatabase(inject('databaseUrl'), DB_NAME);
});

describe('StreamInstance with broadcast state (real Kafka and PostgreSQL)', () => {
  it('applies the whole metadata topic before the first keyed event, follows updates, and rebuilds it after a restart', async () => {
    // Given, BEFORE the instance starts: an early zone per robot, filler entries, then each
    // robot's final zone; r-7 deleted; one malformed record. And readings of every robot.
    for (const r of ROBOTS) await meta(r, zone('early'));
    for (let i = 0; i < 24; i++) await meta(`dock-${i}`, zone('dock'));
    await meta('r-3', '{"zone": 42}'); // malformed: counted and skipped, r-3 keeps its zone
    for (const [i, r] of ROBOTS.entries()) await meta(r, zone(`Z${i}`));
    await meta('r-7', null);
    await readings(1);

    const order: string[] = [];
    const skipped: BroadcastSkippedEvent[] = [];
    const onReady = () => order.push('broadcast-ready');
    const onRestore = () => order.push('restore');
    const onSkipped = (m: unknown) => skipped.push(m as BroadcastSkippedEvent);
    subscribe(BROADCAST_CHANNELS.ready, onReady);
    subscribe(RUNTIME_CHANNELS.restore, onRestore);
    subscribe(BROADCAST_CHANNELS.skipped, onSkipped);
    try {
      // When the instance starts
      const a = instance('a');
      const running = a.run();
      let rows = await outputsWhen((rs) => rs.filter((r) => r.payload.v === 1).length === ROBOTS.length);
      // Then every reading saw the final metadata (none saw 'early' or a gap), r-7's tombstone
      // included; the metadata read finished before any partition was restored.
      expect(readingsOf(rows, 1)).toEqual(FINAL_ZONES);
      expect(order[0]).toBe('broadcast-ready');
      expect(order.filter((o) => o === 'restore')).toHaveLength(2);
      expect(a.broadcastStatus()).toMatchObject({
        ready: true,
        states: { robot_meta: { topic: META, entries: 7 + 24, malformed: 1, deletes: 1 } },
        lag: { [META]: 0n },
      });
      expect(skipped).toMatchObject([{ name: 'robot_meta', topic: META, reason: 'bad_value' }]);

      // When r-1 moves while the instance runs, then the operator is told (as r-1) and r-1's
      // next reading carries the new zone.
      await meta('r-1', zone('moved'));
      rows = await outputsWhen((rs) => rs.some((r) => r.payload.moved !== undefined));
      expect(rows.filter((r) => r.payload.moved !== undefined)).toMatchObject([
        { key: 'r-1', payload: { moved: 'moved' } },
      ]);
      await readings(2, ['r-1', 'r-2']);
      rows = await outputsWhen((rs) => rs.filter((r) => r.payload.v === 2).length === 2);
      expect(readingsOf(rows, 2)).toEqual({ 'r-1': 'moved', 'r-2': 'Z2' });

      await a.close();
      await running;

      // After a restart (a new instance), the state is rebuilt from the topic alone.
      order.length = 0;
      const b = instance('b');
      const runningB = b.run();
      await readings(3);
      rows = await outputsWhen((rs) => rs.filter((r) => r.payload.v === 3).length === ROBOTS.length);
      expect(readingsOf(rows, 3)).toEqual({ ...FINAL_ZONES, 'r-1': 'moved' });
      expect(order[0]).toBe('broadcast-ready');
      expect(b.broadcastStatus().states.robot_meta).toMatchObject({ entries: 7 + 24, malformed: 1 });
      // Rebuilding calls no hook: still the one `moved` output.
      expect(rows.filter((r) => r.payload.moved !== undefined)).toHaveLength(1);
      // Nothing was processed twice: one row per robot and reading.
      expect(rows.filter((r) => r.payload.v !== undefined)).toHaveLength(ROBOTS.length * 2 + 2);
      await b.close();
      await runningB;
    } finally {
      unsubscribe(BROADCAST_CHANNELS.ready, onReady);
      unsubscribe(RUNTIME_CHANNELS.restore, onRestore);
      unsubscribe(BROADCAST_CHANNELS.skipped, onSkipped);
    }
  });
});
