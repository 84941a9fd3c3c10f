/**
 * Telemetry batch record benchmark: encode and decode throughput of the binary record, with the
 * JSON form of the same batches run side by side as the peer (both paths validate every value).
 *
 *   npx tsx libs/protocol/bench/batch.bench.ts
 *
 * Prints a table of medians and writes bench-results/protocol-batch.json. `measureBatchCodec` and
 * `formatBatchTable` are exported so one `bench:protocol` entry point can run this next to the
 * serial-frame bench and merge the figures.
 */
import {
  decodeJson,
  decodeTelemetryBatch,
  encodeTelemetryBatch,
  encodeTelemetryBatchJson,
  ROBOT_MODES,
  type TelemetrySample,
} from '../src/index.js';
import { machine, median, prng, resultPath, round2, runMain, textReport, writeResult } from './bench-kit.js';

export type BatchOperation = 'encode' | 'decode';
export type BatchCodec = 'binary' | 'json';

export interface BatchFigure {
  readonly codec: BatchCodec;
  readonly operation: BatchOperation;
  readonly batchSize: number;
  /** Bytes of one batch in this codec. */
  readonly batchBytes: number;
  /** Samples per second of each timed run, in run order. */
  readonly runsSamplesPerSec: readonly number[];
  readonly medianSamplesPerSec: number;
  /** Payload bytes (in this codec) per second, 10^6 bytes per MB, at the median run. */
  readonly medianMBPerSec: number;
}

export interface BatchBenchResult {
  readonly bench: 'protocol-batch';
  readonly timestamp: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly settings: Required<BatchBenchOptions>;
  readonly figures: readonly BatchFigure[];
  /** Binary over JSON median samples/s, per operation and batch size. */
  readonly ratios: readonly { operation: BatchOperation; batchSize: number; binaryOverJson: number }[];
}

export interface BatchBenchOptions {
  readonly batchSizes?: readonly number[];
  /** Timed runs per case; the median is reported. */
  readonly runs?: number;
  readonly runMs?: number;
  readonly warmupMs?: number;
  /** Distinct batches cycled through per case, so the decoder never sees one buffer only. */
  readonly distinctBatches?: number;
  /** Also measure the JSON peer. */
  readonly json?: boolean;
}

const DEFAULTS: Required<BatchBenchOptions> = {
  batchSizes: [100, 1000],
  runs: 7,
  runMs: 300,
  warmupMs: 500,
  distinctBatches: 16,
  json: true,
};

/** A robot cleaning at 10 Hz: battery draining, position walking, occasional faults. */
export function realisticSamples(count: number, seed: number): TelemetrySample[] {
  const rnd = prng(seed);
  const robotId = `robot-${String(seed).padStart(5, '0')}`;
  const start = 1_760_000_000_000 + Math.floor(rnd() * 1e9);
  let x = Math.floor(rnd() * 40_000);
  let y = Math.floor(rnd() * 40_000);
  let heading = Math.floor(rnd() * 36_000);
  let soc = 400 + Math.floor(rnd() * 600);
  const out: TelemetrySample[] = [];
  for (let i = 0; i < count; i++) {
    heading = (heading + Math.floor(rnd() * 600) - 300 + 36_000) % 36_000;
    const speed = Math.floor(rnd() * 450);
    x += Math.round((Math.cos((heading / 18_000) * Math.PI) * speed) / 10);
    y += Math.round((Math.sin((heading / 18_000) * Math.PI) * speed) / 10);
    if (rnd() < 0.01 && soc > 0) soc--;
    out.push({
      kind: 'telemetry',
      robotId,
      bootId: 0x5eed_0000 + seed,
      seq: 10_000 + i,
      eventTime: start + i * 100 + Math.floor(rnd() * 5),
      voltageMv: 14_000 + Math.floor(soc * 2.6) + Math.floor(rnd() * 40),
      currentMa: 1_200 + Math.floor(rnd() * 900) - 100,
      socPermille: soc,
      batteryTempDeciC: 280 + Math.floor(rnd() * 60),
      cycleCount: 312,
      siteId: 'site-berlin-01',
      xMm: x,
      yMm: y,
      headingCdeg: heading,
      speedMmS: speed,
      dirtLevel: Math.floor(rnd() * 256),
      mode: rnd() < 0.95 ? 'cleaning' : (ROBOT_MODES[Math.floor(rnd() * ROBOT_MODES.length)] ?? 'idle'),
      errorFlags: rnd() < 0.02 ? 1 << Math.floor(rnd() * 8) : 0,
    });
  }
  return out;
}

interface Case {
  readonly batchBytes: number;
  /** Runs one operation over batch `i` and returns something derived from the result. */
  readonly step: (i: number) => number;
}

function timeCase(
  c: Case,
  batchSize: number,
  distinct: number,
  runs: number,
  runMs: number,
  warmupMs: number,
) {
  let sink = 0;
  const spin = (ms: number): { samples: number; seconds: number } => {
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(ms * 1e6));
    let batches = 0;
    let now = start;
    while (now < deadline) {
      for (let k = 0; k < 8; k++) sink += c.step((batches + k) % distinct);
      batches += 8;
      now = process.hrtime.bigint();
    }
    return { samples: batches * batchSize, seconds: Number(now - start) / 1e9 };
  };
  spin(warmupMs);
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const { samples, seconds } = spin(runMs);
    rates.push(samples / seconds);
  }
  if (sink === Number.MIN_VALUE) console.log(sink);
  return rates;
}

export function measureBatchCodec(options: BatchBenchOptions = {}): BatchBenchResult {
  const settings: Required<BatchBenchOptions> = { ...DEFAULTS, ...options };
  const figures: BatchFigure[] = [];
  for (const batchSize of settings.batchSizes) {
    const sampleSets = Array.from({ length: settings.distinctBatches }, (_, i) =>
      realisticSamples(batchSize, i + 1),
    );
    const binary = sampleSets.map((s) => encodeTelemetryBatch(s));
    const cases: [BatchCodec, BatchOperation, Case][] = [
      [
        'binary',
        'encode',
        { batchBytes: avgLength(binary), step: (i) => encodeTelemetryBatch(at(sampleSets, i)).length },
      ],
      [
        'binary',
        'decode',
        { batchBytes: avgLength(binary), step: (i) => touch(decodeTelemetryBatch(at(binary, i)).samples) },
      ],
    ];
    if (settings.json) {
      const json = sampleSets.map((s) => encodeTelemetryBatchJson(s));
      cases.push(
        [
          'json',
          'encode',
          { batchBytes: avgLength(json), step: (i) => encodeTelemetryBatchJson(at(sampleSets, i)).length },
        ],
        [
          'json',
          'decode',
          {
            batchBytes: avgLength(json),
            step: (i) => (decodeJson(at(json, i)).type === 'telemetry_batch' ? 1 : 0),
          },
        ],
      );
    }
    for (const [codec, operation, c] of cases) {
      const rates = timeCase(
        c,
        batchSize,
        settings.distinctBatches,
        settings.runs,
        settings.runMs,
        settings.warmupMs,
      );
      const med = median(rates);
      figures.push({
        codec,
        operation,
        batchSize,
        batchBytes: c.batchBytes,
        runsSamplesPerSec: rates.map(Math.round),
        medianSamplesPerSec: Math.round(med),
        medianMBPerSec: round2(((med / batchSize) * c.batchBytes) / 1e6),
      });
    }
  }
  const ratios = figures
    .filter((f) => f.codec === 'binary')
    .flatMap((f) => {
      const peer = figures.find(
        (p) => p.codec === 'json' && p.operation === f.operation && p.batchSize === f.batchSize,
      );
      return peer === undefined
        ? []
        : [
            {
              operation: f.operation,
              batchSize: f.batchSize,
              binaryOverJson: round2(f.medianSamplesPerSec / peer.medianSamplesPerSec),
            },
          ];
    });
  return {
    bench: 'protocol-batch',
    ...machine(),
    settings,
    figures,
    ratios,
  };
}

/** Reads a field of a decoded sample so the decoder's output is used, not just counted. */
function touch(samples: readonly TelemetrySample[]): number {
  return samples.length + (samples[samples.length >> 1]?.voltageMv ?? 0);
}

function at<T>(items: readonly T[], i: number): T {
  const item = items[i];
  if (item === undefined) throw new RangeError(`no batch ${i}`);
  return item;
}

function avgLength(items: readonly Uint8Array[]): number {
  return Math.round(items.reduce((n, b) => n + b.length, 0) / items.length);
}

export function formatBatchTable(result: BatchBenchResult): string {
  const rows = [
    ['codec', 'op', 'batch', 'bytes/batch', 'median samples/s', 'median MB/s', 'runs (samples/s)'],
  ];
  for (const f of result.figures) {
    rows.push([
      f.codec,
      f.operation,
      String(f.batchSize),
      String(f.batchBytes),
      f.medianSamplesPerSec.toLocaleString('en-US'),
      f.medianMBPerSec.toFixed(1),
      f.runsSamplesPerSec.map((r) => `${(r / 1e6).toFixed(2)}M`).join(' '),
    ]);
  }
  const ratios = result.ratios.map(
    (r) => `  ${r.operation} x${r.batchSize}: binary/json = ${r.binaryOverJson}`,
  );
  return textReport({
    title: 'protocol telemetry batch',
    machine: result,
    rows,
    ratiosHeading: 'ratios (median samples/s):',
    ratios,
  });
}

/** bench-results/protocol-batch.json at the repository root, wherever the command is run from. */
export const BATCH_RESULT_PATH = resultPath('protocol-batch.json');

export function writeBatchResult(result: BatchBenchResult, path: string = BATCH_RESULT_PATH): void {
  writeResult(path, result);
}

runMain(import.meta.url, () => measureBatchCodec(), formatBatchTable, BATCH_RESULT_PATH);
