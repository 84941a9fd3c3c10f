/**
 * Stream core benchmark: events/s through a keyed tumbling-window job (the README's per-robot
 * 1-minute status, 7-field accumulator) with 100k keys, and resident bytes per key.
 *
 *   node --expose-gc --import tsx --conditions=@fleet/source libs/stream/bench/window.bench.ts
 *
 * What is timed: PartitionTask.process() on batches of already-decoded records (decoding is
 * measured by bench:protocol), 10 Hz per robot in event time with up to 1.5 s of out-of-order
 * jitter, so windows fire (provisional, then final 30 s later) every minute of event time.
 * One partition, one core, in-memory state backend; the median of the timed runs is reported.
 * Resident bytes per key: growth of heapUsed + arrayBuffers from an empty task to one holding 100k
 * keys with open windows and timers, after full GCs, divided by the keys.
 *
 * Writes bench-results/stream-window.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TelemetrySample } from '@fleet/protocol';
import { createMemoryBackend } from '@fleet/state';
import { PartitionTask, type TaskRecord } from '../src/index.js';
import { sample, statusJob } from '../test/support/status-job.js';

const KEYS = Number(process.argv[2] ?? 100_000);
const BATCH = 1000;
const RUNS = 5;
const ROUNDS_PER_RUN = 10; // each round: every key sends one sample (100 ms of event time)
const START = Date.UTC(2024, 0, 1, 10);

const gc = (globalThis as { gc?: () => void }).gc;
/**
 * heapUsed + arrayBuffers after full GCs: the window store and the per-key figures live in typed
 * arrays, whose backing stores are outside heapUsed (and are freed after the GC that finds them dead).
 */
async function heap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(): Promise<void> {
  const random = rng(42);
  // One mutable sample per key, re-timed each round (the bench measures the core, not allocation of inputs).
  const values: TelemetrySample[] = [];
  const records: TaskRecord[] = [];
  let offset = 0n;
  const mutable = (r: TaskRecord) => r as { -readonly [K in keyof TaskRecord]: TaskRecord[K] };
  for (let k = 0; k < KEYS; k++) {
    const v = sample(START, { robotId: `r-${k}` });
    values.push(v);
    records.push({ topic: 'telemetry', offset: offset++, key: v.robotId, value: v, timestamp: START });
  }
  const jitter = Array.from({ length: KEYS }, () => Math.floor(random() * 1500));

  let now = START;
  const clock = { now: () => now };
  const before = await heap();
  const state = await createMemoryBackend().open(statusJob.name, 0);
  const task = new PartitionTask(statusJob, { partition: 0, state, clock, outOfOrdernessMs: 2000 });

  let round = 0;
  let outputs = 0;
  function playRound(): void {
    const base = START + round * 100;
    for (let k = 0; k < KEYS; k++) {
      const v = values[k] as TelemetrySample & { eventTime: number; seq: number };
      v.eventTime = base + (jitter[(k + round) % KEYS] as number);
      v.seq = round;
      mutable(records[k] as TaskRecord).offset = offset++;
    }
    for (let i = 0; i < KEYS; i += BATCH) task.process(records.slice(i, i + BATCH));
    round++;
    now += 100;
    if (round % 10 === 0) task.onProcessingTime(now);
    if (round % 50 === 0) outputs += task.checkpoint().outputs.length; // drain, as the runtime would
  }

  // Warm-up: 2 minutes of event time, so windows have fired and closed a few times.
  while (round < 1200) playRound();
  const perKeyBytes = ((await heap()) - before) / KEYS;
  const stateBytesPerKey = task.metrics().stateMemoryBytes / KEYS;

  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS_PER_RUN; i++) playRound();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    runs.push(Math.round((KEYS * ROUNDS_PER_RUN) / s));
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const medianEps = sorted[sorted.length >> 1] ?? 0;
  const m = task.metrics();
  const result = {
    bench: 'stream-window',
    timestamp: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    settings: {
      keys: KEYS,
      batch: BATCH,
      runs: RUNS,
      eventsPerRun: KEYS * ROUNDS_PER_RUN,
      gcExposed: gc !== undefined,
    },
    runsEventsPerSec: runs,
    medianEventsPerSec: medianEps,
    residentBytesPerKey: Math.round(perKeyBytes),
    stateBackendBytesPerKey: Math.round(stateBytesPerKey),
    windowOutputs: outputs,
    watermark: new Date(m.watermark).toISOString(),
    targets: { eventsPerSecPerCore: 500_000, bytesPerKey: 300 },
  };
  console.log(
    `stream core, tumbling 1-min window, ${KEYS} keys — ${result.cpu}, node ${result.node}\n` +
      `  events/s (median of ${RUNS}): ${medianEps.toLocaleString('en')}   runs: ${runs.join(', ')}\n` +
      `  resident bytes per key: ${result.residentBytesPerKey} (state backend's own estimate: ${result.stateBackendBytesPerKey})` +
      (gc === undefined ? '   [run with --expose-gc for a clean figure]' : ''),
  );
  const out = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench-results/stream-window.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}

await main();
