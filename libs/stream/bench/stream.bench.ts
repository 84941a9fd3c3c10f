/**
 * `npm run bench:stream`: the stream runtime's figures with a real Kafka broker (issue #5).
 *
 *   npm run bench:stream                 # starts a session broker through scripts/kafka.ts exec
 *   KAFKA_BROKERS=host:port node --expose-gc --conditions=@fleet/source --import tsx \
 *     libs/stream/bench/stream.bench.ts [--robots 100000] [--records 2] [--samples 20] [--partitions 4] [--runs 5]
 *
 * 1. Produces, into a fresh topic pair with `--partitions` partitions (keyed by robot id, the shared
 *    key function): per robot `--records` telemetry batches of `--samples` samples at 1 Hz
 *    (binary, `encodeTelemetryBatch`), plus command acks (binary, `encodeMessage`) of which ~1% of
 *    robots send three timeouts in a row (the CEP alert fires for them).
 * 2. From Kafka: reads both topics back with the libs/log reader, decodes in the job's `read`,
 *    and runs one PartitionTask per partition (1-minute tumbling battery window + the CEP
 *    three-timeouts pattern) — all on ONE thread, so the rate is per core. Timed from the first
 *    record returned to the last processed.
 * 3. Engine only: the same records, decoded beforehand, through fresh tasks; median of `--runs`.
 * 4. Resident bytes per key, after the engine run: (heapUsed + arrayBuffers) after a full GC with
 *    every task alive, minus the same before the tasks existed (inputs held in both), divided by
 *    the robots; and the RSS delta. Taken when every robot has TWO windows open (the previous
 *    minute waiting out its allowed lateness, and the current one): the daily peak, not the mean.
 * 5. Checkpoint: `task.checkpoint()` of every task (the first one after the run: every key
 *    changed), its time, and the serialised size (state change values + task state JSON); then an
 *    incremental one after 10% of the robots sent one more batch.
 *
 * Writes bench-results/stream.json.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMessage, encodeTelemetryBatch, decodeMessage, decodeTelemetryBatch } from '@fleet/protocol';
import type { CommandAck, TelemetrySample } from '@fleet/protocol';
import { createDatabase, createPool, dropDatabase, migrate, startEmbeddedPostgres } from '@fleet/db';
import { createKafkaLog, type ProduceRecord } from '@fleet/log';
import { createMemoryBackend } from '@fleet/state';
import {
  PartitionTask,
  PgCheckpointStore,
  type Claim,
  type TaskCheckpoint,
  type TaskRecord,
} from '../src/index.js';
import { ACKS, TELEMETRY, fleetJob, type FleetElement } from './fleet-job.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const ROBOTS = arg('robots', 100_000);
const RECORDS = arg('records', 2);
const SAMPLES = arg('samples', 20);
const PARTITIONS = arg('partitions', 4);
const RUNS = arg('runs', 5);
/** Event time of the first sample: 40 s into a minute, so the data crosses one window end. */
const START = Date.UTC(2024, 0, 1, 10, 0, 40);

const gc = (globalThis as { gc?: () => void }).gc;
/** After full GCs, with pauses: array buffer backing stores are freed after the GC that finds them dead. */
async function resident(): Promise<{ heap: number; rss: number }> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const lines = rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines.join('\n');
}

const robotId = (r: number) => `robot-${String(r).padStart(6, '0')}`;

interface Input {
  /** Per record, in production order: topic, key, encoded value, timestamp (event time of its newest element). */
  readonly records: { topic: string; key: string; value: Uint8Array; timestamp: number }[];
  readonly events: number;
  readonly acks: number;
}

/** Telemetry in rounds (every robot's batch j, then j + 1), acks interleaved at their event time. */
function generate(): Input {
  const rnd = prng(42);
  const records: Input['records'] = [];
  let events = 0;
  let acks = 0;
  const span = RECORDS * SAMPLES * 1000;
  // Acks: every robot one command (accepted + completed); 1% three timeouts in a row.
  const ackAt = new Map<number, { robot: number; ack: CommandAck }[]>();
  const addAck = (robot: number, at: number, n: number, outcome: CommandAck['outcome']) => {
    const round = Math.min(RECORDS - 1, Math.floor((at - START) / (SAMPLES * 1000)));
    const ack: CommandAck = {
      kind: 'command_ack',
      commandId: `c-${robot}-${n}`,
      robotId: robotId(robot),
      outcome,
      source: outcome === 'timeout' ? 'agent' : 'firmware',
      robotTime: at,
    };
    let list = ackAt.get(round);
    if (list === undefined) ackAt.set(round, (list = []));
    list.push({ robot, ack });
  };
  for (let r = 0; r < ROBOTS; r++) {
    const at = START + Math.floor(rnd() * (span - 5000));
    if (rnd() < 0.01) {
      for (let n = 0; n < 3; n++) addAck(r, Math.min(START + span - 1, at + n * 1000), n, 'timeout');
    } else {
      addAck(r, at, 0, 'accepted');
      addAck(r, Math.min(START + span - 1, at + 2000), 0, 'completed');
    }
  }
  for (let j = 0; j < RECORDS; j++) {
    for (let r = 0; r < ROBOTS; r++) {
      const id = robotId(r);
      const samples: TelemetrySample[] = [];
      for (let s = 0; s < SAMPLES; s++) {
        const seq = j * SAMPLES + s;
        samples.push({
          kind: 'telemetry',
          robotId: id,
          bootId: 1,
          seq,
          eventTime: START + seq * 1000,
          voltageMv: 14_000 + Math.floor(rnd() * 800),
          currentMa: 1200,
          socPermille: 800 - seq,
          batteryTempDeciC: 250 + (seq % 7),
          cycleCount: 12,
          siteId: 'site-a',
          xMm: seq * 10,
          yMm: 0,
          headingCdeg: 0,
          speedMmS: 300,
          dirtLevel: 0,
          mode: 'cleaning',
          errorFlags: 0,
        });
      }
      events += samples.length;
      records.push({
        topic: TELEMETRY,
        key: id,
        value: encodeTelemetryBatch(samples),
        timestamp: START + (j * SAMPLES + SAMPLES - 1) * 1000,
      });
    }
    const list = (ackAt.get(j) ?? []).sort((a, b) => a.ack.robotTime - b.ack.robotTime);
    for (const { ack } of list) {
      records.push({ topic: ACKS, key: ack.robotId, value: encodeMessage(ack), timestamp: ack.robotTime });
      acks++;
    }
  }
  return { records, events: events + acks, acks };
}

/** A clock that follows the data (processing time = newest record timestamp): no key goes idle mid-run. */
class DataClock {
  t = START;
  now = (): number => this.t;
}

async function tasks(clock: DataClock): Promise<PartitionTask<FleetElement>[]> {
  const backend = createMemoryBackend();
  const out: PartitionTask<FleetElement>[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const state = await backend.open(fleetJob.name, p);
    out.push(
      new PartitionTask(fleetJob, {
        partition: p,
        state,
        clock,
        outOfOrdernessMs: 2000,
        allowedLatenessMs: 30_000,
      }),
    );
  }
  return out;
}

function partitionOf(key: string, partitionFor: (key: string, n: number) => number): number {
  return partitionFor(key, PARTITIONS);
}

/**
 * With BENCH_STREAM_PROFILE=DIR, a V8 CPU profile of the timed checkpoint() calls is written to
 * DIR/checkpoint-<n>.cpuprofile (open it in Chrome DevTools).
 */
let profiles = 0;
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = process.env['BENCH_STREAM_PROFILE'];
  if (dir === undefined || dir === '') return undefined;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${name}-${++profiles}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

interface CheckpointFigures {
  /** The full GC run just before (garbage of the processing, not of the checkpoint). */
  readonly gcBeforeMs: number;
  /** task.checkpoint() of every task. */
  readonly ms: number;
  /** JSON.stringify of the task states (what a store writes as JSON). */
  readonly serializeMs: number;
  readonly stateChanges: number;
  /** Values + keys + names of the state changes. */
  readonly stateBytes: number;
  readonly taskStateJsonBytes: number;
  readonly windowOutputs: number;
  readonly alerts: number;
}

/**
 * task.checkpoint() of every task, timed; `commit` (when given) then writes them to PostgreSQL, one
 * transaction per partition as the runtime does, before the checkpoints are let go.
 */
async function checkpointAll(
  running: readonly PartitionTask<FleetElement>[],
  commit?: (cps: readonly TaskCheckpoint[]) => Promise<CommitFigures>,
): Promise<CheckpointFigures & { postgres?: CommitFigures }> {
  // The processing run before leaves garbage (4.2M decoded events) that a major GC inside the timed
  // region would charge to the checkpoint; collect it first, and report how long that took.
  const g0 = performance.now();
  gc?.();
  const gcBeforeMs = performance.now() - g0;
  const profile = await startProfile();
  const t0 = performance.now();
  const cps = running.map((t) => t.checkpoint());
  const ms = performance.now() - t0;
  await profile?.stop('checkpoint');
  const s0 = performance.now();
  let taskStateJsonBytes = 0;
  for (const cp of cps) taskStateJsonBytes += Buffer.byteLength(JSON.stringify(cp.taskState));
  const serializeMs = performance.now() - s0;
  let stateChanges = 0;
  let stateBytes = 0;
  let windowOutputs = 0;
  let alerts = 0;
  for (const cp of cps) {
    stateChanges += cp.stateChanges.length;
    for (const c of cp.stateChanges) stateBytes += (c.value?.byteLength ?? 0) + c.key.length + c.name.length;
    for (const o of cp.outputs) {
      if (o.type !== 'emit') continue;
      if (o.operator === 'battery_1m') windowOutputs++;
      else if (o.operator === 'command_alerts') alerts++;
    }
  }
  const postgres = commit === undefined ? undefined : await commit(cps);
  return {
    ...(postgres === undefined ? {} : { postgres }),
    gcBeforeMs: Math.round(gcBeforeMs),
    ms: Math.round(ms),
    serializeMs: Math.round(serializeMs),
    stateChanges,
    stateBytes,
    taskStateJsonBytes,
    windowOutputs,
    alerts,
  };
}

interface CommitFigures {
  /**
   * The partitions' transactions concurrently, as one instance commits them: first the state
   * changes, task state and offsets (the keyed state checkpoint), then, apart, the outputs that the
   * same checkpoint carries (window results upserted by id), to show the two costs.
   */
  readonly stateMs: number;
  readonly outputsMs: number;
  readonly totalMs: number;
  readonly outputRows: number;
  readonly perPartitionStateMs: readonly number[];
}

/**
 * A real PostgreSQL (DATABASE_URL, else an embedded server in a temporary folder with fsync and
 * synchronous commit ON, as in production), a fresh database migrated, one claim per partition.
 */
async function postgresCommitter(partitions: number) {
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let dir: string | undefined;
  let url = process.env['DATABASE_URL'];
  if (url === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'bench-stream-pg-'));
    chmodSync(dir, 0o755); // as root the server runs as user postgres, which must enter the folder
    server = await startEmbeddedPostgres({ dataDir: join(dir, 'data') });
    url = server.url;
  }
  const name = `bench_stream_${process.pid}`;
  const db = await createDatabase(url, name);
  const setup = createPool({ url: db.url, max: 1 });
  await migrate(setup);
  const claims: Claim[] = [];
  for (let p = 0; p < partitions; p++) {
    const claim = await new PgCheckpointStore(setup).claim('bench', p, 'bench-0', {
      sessionTimeoutMs: 600_000,
    });
    if (claim === undefined) throw new Error(`could not claim partition ${p}`);
    claims.push(claim);
  }
  await setup.end();
  const ids = new Array<bigint>(partitions).fill(0n);
  return {
    where: server === undefined ? 'DATABASE_URL' : 'embedded PostgreSQL, fsync on',
    async commit(cps: readonly TaskCheckpoint[]): Promise<CommitFigures> {
      // A pool per call, connected before the clock starts and ended after: the connections' read
      // buffers (grown for multi-MB rows) must not count as the tasks' resident bytes.
      const pool = createPool({ url: db.url, max: cps.length });
      await Promise.all(cps.map(() => pool.query('SELECT 1')));
      const store = new PgCheckpointStore(pool);
      // The partitions' transactions concurrently, as StreamInstance.checkpointAll runs them.
      const commitAll = (part: (cp: TaskCheckpoint) => TaskCheckpoint) =>
        Promise.all(
          cps.map((cp, p) => {
            ids[p] = (ids[p] as bigint) + 1n;
            return store.commit(claims[p] as Claim, ids[p] as bigint, part(cp), []);
          }),
        );
      const t0 = performance.now();
      const states = await commitAll((cp) => ({ ...cp, outputs: [] }));
      const stateMs = performance.now() - t0;
      const perPartitionStateMs = states.map((r) => Math.round(r.durationMs));
      const t1 = performance.now();
      await commitAll((cp) => ({ ...cp, stateChanges: [] }));
      const outputsMs = performance.now() - t1;
      const outputRows = cps.reduce((n, cp) => n + cp.outputs.length, 0);
      await pool.end();
      return {
        stateMs: Math.round(stateMs),
        outputsMs: Math.round(outputsMs),
        totalMs: Math.round(stateMs + outputsMs),
        outputRows,
        perPartitionStateMs,
      };
    },
    async close(): Promise<void> {
      await dropDatabase(url, name).catch(() => undefined);
      await server?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS'];
  const { partitionFor } = await import('@fleet/protocol');
  const t0 = performance.now();
  const input = generate();
  const genMs = performance.now() - t0;
  console.log(
    `generated ${input.records.length.toLocaleString('en')} records (${input.events.toLocaleString('en')} events, ${input.acks.toLocaleString('en')} acks) in ${(genMs / 1000).toFixed(1)} s`,
  );

  // --- from Kafka -----------------------------------------------------------------------------
  let kafka:
    { produceMs: number; produceMBps: number; eventsPerSec: number; ms: number; outputs: number } | undefined;
  if (brokers === undefined) {
    console.log(
      'KAFKA_BROKERS not set: the from-Kafka row is skipped (npm run bench:stream starts a broker)',
    );
  } else {
    const log = createKafkaLog({ brokers: brokers.split(','), clientId: 'bench-stream' });
    const suffix = `${Date.now()}-${process.pid}`;
    const topics = { telemetry: `bench-stream-telemetry-${suffix}`, acks: `bench-stream-acks-${suffix}` };
    const admin = log.admin();
    await admin.createTopics([
      { name: topics.telemetry, partitions: PARTITIONS },
      { name: topics.acks, partitions: PARTITIONS },
    ]);
    const producer = log.producer();
    const p0 = performance.now();
    let bytes = 0;
    const CHUNK = 500; // ~400 KB per request: under the broker's 1 MB message.max.bytes per partition batch
    const inflight: Promise<unknown>[] = [];
    for (let i = 0; i < input.records.length; i += CHUNK) {
      const chunk: ProduceRecord[] = input.records.slice(i, i + CHUNK).map((r) => {
        bytes += r.value.byteLength;
        return {
          topic: r.topic === TELEMETRY ? topics.telemetry : topics.acks,
          key: r.key,
          value: r.value,
          timestamp: r.timestamp,
        };
      });
      inflight.push(producer.send(chunk));
      if (inflight.length >= 8) await inflight.shift();
    }
    await Promise.all(inflight);
    const produceMs = performance.now() - p0;
    await producer.close();
    console.log(`produced ${(bytes / 1e6).toFixed(0)} MB in ${(produceMs / 1000).toFixed(1)} s`);

    const clock = new DataClock();
    const running = await tasks(clock);
    const reader = log.reader({
      assignments: [topics.telemetry, topics.acks].flatMap((topic) =>
        Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 0n })),
      ),
      maxBytes: 16 * 1024 * 1024,
      maxBytesPerPartition: 2 * 1024 * 1024,
      maxWaitMs: 200,
    });
    const total = input.records.length;
    let seen = 0;
    let first = 0;
    let outputs = 0;
    const perPartition: TaskRecord[][] = Array.from({ length: PARTITIONS }, () => []);
    while (seen < total) {
      const batches = await reader.poll();
      if (first === 0 && batches.length > 0) first = performance.now();
      for (const b of batches) {
        const list = perPartition[b.partition] as TaskRecord[];
        const topic = b.topic === topics.telemetry ? TELEMETRY : ACKS;
        for (const r of b.records) {
          if (r.timestamp > clock.t) clock.t = r.timestamp;
          list.push({
            topic,
            offset: r.offset,
            key:
              r.key === null
                ? null
                : Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength).toString(),
            value: r.value,
            timestamp: r.timestamp,
          });
        }
        seen += b.records.length;
      }
      for (let p = 0; p < PARTITIONS; p++) {
        const list = perPartition[p] as TaskRecord[];
        if (list.length === 0) continue;
        (running[p] as PartitionTask<FleetElement>).process(list);
        list.length = 0;
      }
    }
    for (const t of running) outputs += t.checkpoint().outputs.length;
    const ms = performance.now() - first;
    await reader.close();
    await admin.deleteTopics([topics.telemetry, topics.acks]).catch(() => undefined);
    await admin.close();
    kafka = {
      produceMs: Math.round(produceMs),
      produceMBps: Math.round(bytes / 1e3 / produceMs),
      eventsPerSec: Math.round(input.events / (ms / 1000)),
      ms: Math.round(ms),
      outputs,
    };
  }

  // --- per-partition task records (encoded values, as read from Kafka) --------------------------
  const encoded: TaskRecord[][] = Array.from({ length: PARTITIONS }, () => []);
  const offsets = new Array<bigint>(PARTITIONS * 2).fill(0n);
  for (const r of input.records) {
    const p = partitionOf(r.key, partitionFor);
    const slot = p * 2 + (r.topic === TELEMETRY ? 0 : 1);
    const offset = offsets[slot] as bigint;
    offsets[slot] = offset + 1n;
    (encoded[p] as TaskRecord[]).push({
      topic: r.topic,
      offset,
      key: r.key,
      value: r.value,
      timestamp: r.timestamp,
    });
  }
  input.records.length = 0;
  const BATCH = 500; // records per process() call (~10k events), like one fetch per partition

  async function engineRun(
    source: TaskRecord[][],
  ): Promise<{ ms: number; tasks: PartitionTask<FleetElement>[]; clock: DataClock }> {
    const clock = new DataClock();
    const running = await tasks(clock);
    const pos = new Array<number>(PARTITIONS).fill(0);
    const s = performance.now();
    for (let more = true; more;) {
      more = false;
      for (let p = 0; p < PARTITIONS; p++) {
        const list = source[p] as TaskRecord[];
        const from = pos[p] as number;
        if (from >= list.length) continue;
        const batch = list.slice(from, from + BATCH);
        pos[p] = from + batch.length;
        for (const r of batch) if (r.timestamp > clock.t) clock.t = r.timestamp;
        (running[p] as PartitionTask<FleetElement>).process(batch);
        more = true;
      }
    }
    return { ms: performance.now() - s, tasks: running, clock };
  }

  // --- resident bytes per key: tasks fed from encoded records (decoded in read, then garbage) ----
  // The inputs are held before and after, so the difference is what the tasks keep.
  await engineRun(encoded); // warm-up: code and feedback exist before the baseline
  const before = await resident();
  const run = await engineRun(encoded);
  // Hand over outputs and dirty marks as a checkpoint would; measure what stays. (In a function
  // of its own: a dead local of this async function could keep the checkpoint alive.)
  const full = await checkpointAll(run.tasks);
  const after = await resident();
  const keys = run.tasks.reduce((n, t) => n + t.metrics().keys, 0);
  const bytesPerKey = Math.round((after.heap - before.heap) / keys);
  const rssPerKey = Math.round((after.rss - before.rss) / keys);
  const stateEstimate = Math.round(run.tasks.reduce((n, t) => n + t.metrics().stateMemoryBytes, 0) / keys);

  // Incremental: 10% of the robots send one more batch, then checkpoint.
  const more: TaskRecord[][] = Array.from({ length: PARTITIONS }, () => []);
  const nextTs = START + RECORDS * SAMPLES * 1000;
  for (let r = 0; r < ROBOTS; r += 10) {
    const id = robotId(r);
    const p = partitionOf(id, partitionFor);
    const samples = Array.from({ length: SAMPLES }, (_, s): TelemetrySample => ({
      kind: 'telemetry',
      robotId: id,
      bootId: 1,
      seq: RECORDS * SAMPLES + s,
      eventTime: nextTs + s * 1000,
      voltageMv: 14_100,
      currentMa: 1200,
      socPermille: 700,
      batteryTempDeciC: 250,
      cycleCount: 12,
      siteId: 'site-a',
      xMm: 0,
      yMm: 0,
      headingCdeg: 0,
      speedMmS: 300,
      dirtLevel: 0,
      mode: 'cleaning',
      errorFlags: 0,
    }));
    (more[p] as TaskRecord[]).push({
      topic: TELEMETRY,
      offset: offsets[p * 2] as bigint,
      key: id,
      value: decodeTelemetryBatch(encodeTelemetryBatch(samples)),
      timestamp: nextTs,
    });
  }
  const moreRecords = (r: Awaited<ReturnType<typeof engineRun>>) => {
    r.clock.t = nextTs + SAMPLES * 1000;
    for (let p = 0; p < PARTITIONS; p++)
      (r.tasks[p] as PartitionTask<FleetElement>).process(more[p] as TaskRecord[]);
  };
  moreRecords(run);
  const inc = await checkpointAll(run.tasks);
  run.tasks.length = 0;

  // --- the same checkpoints committed to PostgreSQL, on a run of their own (the database client's
  // buffers must not count in the resident bytes above) -------------------------------------------
  const pg = await postgresCommitter(PARTITIONS);
  const pgRun = await engineRun(encoded);
  const fullPg = await checkpointAll(pgRun.tasks, (cps) => pg.commit(cps));
  moreRecords(pgRun);
  const incPg = await checkpointAll(pgRun.tasks, (cps) => pg.commit(cps));
  await pg.close();
  pgRun.tasks.length = 0;

  // --- engine only: the same records decoded beforehand ----------------------------------------
  const decoded = encoded.map((list) =>
    list.map((r) => ({
      ...r,
      value:
        r.topic === TELEMETRY
          ? decodeTelemetryBatch(r.value as Uint8Array)
          : decodeMessage(r.value as Uint8Array),
    })),
  );
  const engineRates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const e = await engineRun(decoded);
    engineRates.push(Math.round(input.events / (e.ms / 1000)));
  }

  const engineMedian = median(engineRates);
  const cores = cpus().length;
  const result = {
    bench: 'stream',
    timestamp: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    settings: {
      robots: ROBOTS,
      recordsPerRobot: RECORDS,
      samplesPerRecord: SAMPLES,
      partitions: PARTITIONS,
      runs: RUNS,
      events: input.events,
      acks: input.acks,
      threads: 1,
      gcExposed: gc !== undefined,
      job: 'battery_1m (tumbling 1 min, allowed lateness 30 s, 7-field struct accumulator) + command_alerts (CEP three timeouts within 10 min)',
    },
    fromKafka: kafka ?? null,
    engineOnly: { runsEventsPerSec: engineRates, medianEventsPerSec: engineMedian },
    memory: {
      residentBytesPerKey: bytesPerKey,
      rssBytesPerKey: rssPerKey,
      stateEstimateBytesPerKey: stateEstimate,
      measuredAt: 'two windows open per robot (peak), outputs handed over',
    },
    checkpoint: {
      full: { keys, ...full },
      incremental: { robotsChanged: Math.ceil(ROBOTS / 10), ...inc },
      postgresCommit: {
        where: pg.where,
        full: { checkpointMs: fullPg.ms, ...fullPg.postgres },
        incremental: { checkpointMs: incPg.ms, ...incPg.postgres },
      },
    },
    outputs: { windowResults: full.windowOutputs, alerts: full.alerts },
    targets: { eventsPerSecPerCore: 500_000, bytesPerKey: 300, checkpoint100kKeysMs: 1000 },
  };
  const fmt = (n: number) => n.toLocaleString('en');
  const rows = [
    ['figure', 'value', 'target'],
    [
      'events/s from Kafka (1 thread, decode included)',
      kafka ? fmt(kafka.eventsPerSec) : 'skipped',
      '>= 500,000',
    ],
    [`events/s engine only (median of ${RUNS})`, fmt(engineMedian), '>= 500,000'],
    ['resident bytes per key (heap + array buffers)', fmt(bytesPerKey), '<= 300'],
    ['RSS bytes per key', fmt(rssPerKey), ''],
    [
      `checkpoint() of ${fmt(keys)} keys, ms (after a ${fmt(full.gcBeforeMs)} ms GC)`,
      fmt(full.ms),
      '< 1,000',
    ],
    ['  + task state JSON.stringify, ms', fmt(full.serializeMs), ''],
    ['  state changes / bytes', `${fmt(full.stateChanges)} / ${fmt(full.stateBytes)}`, ''],
    ['  task state JSON bytes', fmt(full.taskStateJsonBytes), ''],
    [`incremental checkpoint (10% of robots), ms`, fmt(inc.ms), ''],
    ['  state changes / bytes', `${fmt(inc.stateChanges)} / ${fmt(inc.stateBytes)}`, ''],
    ['  task state JSON bytes', fmt(inc.taskStateJsonBytes), ''],
    [
      `PostgreSQL commit of ${fmt(keys)} keys' state (${PARTITIONS} concurrent transactions), ms`,
      fmt(fullPg.postgres?.stateMs ?? 0),
      '< 1,000',
    ],
    [
      '  checkpoint() + state commit (same run), ms',
      fmt(fullPg.ms + (fullPg.postgres?.stateMs ?? 0)),
      '< 1,000',
    ],
    [
      `  + its ${fmt(fullPg.postgres?.outputRows ?? 0)} window results (upserted outputs), ms`,
      fmt(fullPg.postgres?.outputsMs ?? 0),
      '',
    ],
    ['PostgreSQL state commit, incremental (10% of robots), ms', fmt(incPg.postgres?.stateMs ?? 0), ''],
  ];
  console.log(
    `stream bench — ${result.cpu} (${cores} cores), node ${result.node}, load ${result.loadAverage1m}, ${result.timestamp}\n` +
      `${fmt(ROBOTS)} robots, ${PARTITIONS} partitions on one thread, ${fmt(input.events)} events, window outputs ${fmt(full.windowOutputs)}, alerts ${fmt(full.alerts)}\n` +
      (kafka
        ? `Kafka: produced in ${(kafka.produceMs / 1000).toFixed(1)} s (${kafka.produceMBps} MB/s), consumed + processed in ${(kafka.ms / 1000).toFixed(1)} s\n`
        : '') +
      `engine runs (events/s): ${engineRates.map(fmt).join(', ')}\n\n` +
      formatTable(rows),
  );
  const out = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench-results/stream.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
}

await main();
