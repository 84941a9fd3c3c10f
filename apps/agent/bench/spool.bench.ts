/**
 * File spool benchmark: sustained append rate of ~80-byte records (the size of an encoded sample)
 * under each fsync policy — one append at a time, 64 appends in flight (group commit of single
 * appends), appendMany of 100 — and the publisher's cycle (appendMany 100, peek 100, ack 100).
 * Each case runs on a fresh spool directory, for `runMs`, `runs` times; medians are reported.
 *
 *   npx tsx apps/agent/bench/spool.bench.ts [--dir=/path/on/the/disk/to/measure]
 *
 * Prints a table and writes bench-results/agent-spool.json. The figures are the disk's as much as
 * the spool's: `always` is bounded by fdatasync latency, so run it on the robot's own SD card or
 * eMMC (`--dir`) for figures that mean something there. `measureSpool` and `formatSpoolTable` are
 * exported so that `npm run bench:agent` can run this next to the agent's other benches.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, platform, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openFileSpool, type FileSpool, type FsyncPolicy } from '../src/spool/file-spool.js';

export type SpoolBenchCase = 'append' | 'append-inflight' | 'appendMany' | 'cycle';

export interface SpoolBenchOptions {
  /** Timed runs per case; the median is reported. */
  readonly runs?: number;
  readonly runMs?: number;
  /** One untimed run of this length before the timed ones. */
  readonly warmupMs?: number;
  readonly payloadBytes?: number;
  /** Records per appendMany, and per peek/ack in the cycle. */
  readonly batch?: number;
  /** Concurrent single appends in `append-inflight`. */
  readonly inflight?: number;
  readonly policies?: readonly FsyncPolicy[];
  readonly cases?: readonly SpoolBenchCase[];
  /** Where the spool directories are made; default the OS temp dir. */
  readonly dir?: string;
}

export interface SpoolFigure {
  readonly policy: FsyncPolicy;
  readonly case: SpoolBenchCase;
  /** Records per second of each timed run, in run order. */
  readonly runsRecordsPerSec: readonly number[];
  readonly medianRecordsPerSec: number;
  /** Payload bytes per second at the median run, 10^6 bytes per MB (on disk: +16 bytes a record). */
  readonly medianMBPerSec: number;
  /** Records per fdatasync at the median run (`always` only): what group commit achieved. */
  readonly medianRecordsPerFsync: number | null;
}

export interface SpoolBenchResult {
  readonly bench: 'agent-spool';
  readonly timestamp: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly os: string;
  readonly dir: string;
  readonly settings: Required<Omit<SpoolBenchOptions, 'dir'>>;
  readonly figures: readonly SpoolFigure[];
}

const DEFAULTS: Required<Omit<SpoolBenchOptions, 'dir'>> = {
  runs: 5,
  runMs: 1000,
  warmupMs: 300,
  payloadBytes: 80,
  batch: 100,
  inflight: 64,
  policies: ['always', 'interval', 'never'],
  cases: ['append', 'append-inflight', 'appendMany', 'cycle'],
};

export const SPOOL_RESULT_PATH = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../bench-results/agent-spool.json',
);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function payloads(count: number, size: number): Uint8Array[] {
  return Array.from({ length: count }, (_, n) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (n * 31 + i * 7) & 0xff;
    return bytes;
  });
}

/** Runs `kase` against `spool` until `ms` have passed; returns the records it moved. */
async function drive(
  spool: FileSpool,
  kase: SpoolBenchCase,
  ms: number,
  s: typeof DEFAULTS,
): Promise<number> {
  const batch = payloads(s.batch, s.payloadBytes);
  const one = batch[0] ?? new Uint8Array(s.payloadBytes);
  const end = performance.now() + ms;
  let records = 0;
  switch (kase) {
    case 'append':
      while (performance.now() < end) {
        await spool.append('telemetry', one);
        records++;
      }
      return records;
    case 'append-inflight': {
      const lane = async (): Promise<void> => {
        while (performance.now() < end) {
          await spool.append('telemetry', one);
          records++;
        }
      };
      await Promise.all(Array.from({ length: s.inflight }, lane));
      return records;
    }
    case 'appendMany':
      while (performance.now() < end) records += (await spool.appendMany('telemetry', batch)).length;
      return records;
    case 'cycle':
      while (performance.now() < end) {
        await spool.appendMany('telemetry', batch);
        const peeked = await spool.peek('telemetry', s.batch);
        await spool.ack(peeked.map((r) => r.id));
        records += peeked.length;
      }
      return records;
  }
}

async function oneRun(
  policy: FsyncPolicy,
  kase: SpoolBenchCase,
  ms: number,
  s: typeof DEFAULTS,
  base: string,
): Promise<{ recordsPerSec: number; recordsPerFsync: number | null }> {
  const dir = await mkdtemp(join(base, 'fleet-spool-bench-'));
  let fsyncs = 0;
  const count = (message: unknown): void => {
    if ((message as { event?: string }).event === 'fsync') fsyncs++;
  };
  diagnosticsChannel.subscribe('fleet:agent:spool', count);
  try {
    const spool = await openFileSpool({ dir, maxBytes: 8 * 1024 ** 3, fsync: policy, fsyncIntervalMs: 1000 });
    fsyncs = 0;
    const started = performance.now();
    const records = await drive(spool, kase, ms, s);
    const seconds = (performance.now() - started) / 1000;
    const synced = fsyncs;
    await spool.close();
    return {
      recordsPerSec: Math.round(records / seconds),
      recordsPerFsync: policy === 'always' && synced > 0 ? Math.round((records / synced) * 10) / 10 : null,
    };
  } finally {
    diagnosticsChannel.unsubscribe('fleet:agent:spool', count);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function measureSpool(options: SpoolBenchOptions = {}): Promise<SpoolBenchResult> {
  const { dir, ...rest } = options;
  const s: typeof DEFAULTS = { ...DEFAULTS, ...rest };
  const base = dir ?? tmpdir();
  const figures: SpoolFigure[] = [];
  for (const policy of s.policies) {
    for (const kase of s.cases) {
      if (s.warmupMs > 0) await oneRun(policy, kase, s.warmupMs, s, base);
      const runs = [];
      for (let i = 0; i < s.runs; i++) runs.push(await oneRun(policy, kase, s.runMs, s, base));
      const rates = runs.map((r) => r.recordsPerSec);
      const mid = median(rates);
      const perFsync = runs.map((r) => r.recordsPerFsync).filter((v): v is number => v !== null);
      figures.push({
        policy,
        case: kase,
        runsRecordsPerSec: rates,
        medianRecordsPerSec: mid,
        medianMBPerSec: Math.round(((mid * s.payloadBytes) / 1e6) * 100) / 100,
        medianRecordsPerFsync: perFsync.length > 0 ? median(perFsync) : null,
      });
    }
  }
  const cpuList = cpus();
  return {
    bench: 'agent-spool',
    timestamp: new Date().toISOString(),
    node: process.version,
    cpu: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    os: `${platform()} ${release()}`,
    dir: base,
    settings: s,
    figures,
  };
}

const CASE_LABEL: Record<SpoolBenchCase, (s: SpoolBenchResult['settings']) => string> = {
  append: () => 'append, 1 in flight',
  'append-inflight': (s) => `append, ${s.inflight} in flight`,
  appendMany: (s) => `appendMany(${s.batch})`,
  cycle: (s) => `appendMany+peek+ack (${s.batch})`,
};

export function formatSpoolTable(result: SpoolBenchResult): string {
  const rows = [
    ['fsync', 'case', 'records/s', 'MB/s', 'records/fsync'],
    ...result.figures.map((f) => [
      f.policy,
      CASE_LABEL[f.case](result.settings),
      f.medianRecordsPerSec.toLocaleString('en-US'),
      f.medianMBPerSec.toFixed(2),
      f.medianRecordsPerFsync === null ? '-' : String(f.medianRecordsPerFsync),
    ]),
  ];
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  const lines = rows.map((r) => r.map((cell, col) => cell.padStart(widths[col] ?? 0)).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return [
    `File spool, ${result.settings.payloadBytes}-byte records, median of ${result.settings.runs} runs of ${result.settings.runMs} ms — ` +
      `${result.node}, ${result.cpu} (${result.cores} cores), ${result.os}, spool in ${result.dir}, ${result.timestamp}`,
    ...lines,
  ].join('\n');
}

export function writeSpoolResult(result: SpoolBenchResult, path = SPOOL_RESULT_PATH): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const dirArg = process.argv.find((a) => a.startsWith('--dir='))?.slice('--dir='.length);
  const result = await measureSpool(dirArg === undefined ? {} : { dir: dirArg });
  console.log(formatSpoolTable(result));
  writeSpoolResult(result);
  console.log(`\nwrote ${SPOOL_RESULT_PATH}`);
}
