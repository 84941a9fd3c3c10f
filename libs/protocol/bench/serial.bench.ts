/**
 * Serial frame benchmark: encode, and decode through the streaming decoder fed in 4 KiB chunks (as
 * a UART driver hands them over), of telemetry sample frames. Newline-delimited JSON validated with
 * zod, what a quick firmware integration would send instead, runs side by side as the peer.
 *
 *   npx tsx libs/protocol/bench/serial.bench.ts
 *
 * Prints a table of medians and writes bench-results/protocol-serial.json. `measureSerialCodec`,
 * `formatSerialTable` and `writeSerialResult` are exported so one `bench:protocol` entry point can
 * run this next to the other protocol benches and merge the figures.
 */
import { platform, release } from 'node:os';
import { z } from 'zod';
import { epochMsSchema, ROBOT_MODES, telemetrySampleSchema } from '../src/messages.js';
import { encodeSerialFrame, SerialFrameDecoder, type SerialSampleFrame } from '../src/serial/index.js';
import { machine, median, prng, resultPath, round2, runMain, textReport, writeResult } from './bench-kit.js';

export type SerialCodec = 'cobs-v1' | 'ndjson';
export type SerialOperation = 'encode' | 'decode';

export interface SerialFigure {
  readonly codec: SerialCodec;
  readonly operation: SerialOperation;
  /** Bytes one sample takes on the wire in this codec, delimiter included (mean). */
  readonly frameBytes: number;
  /** Frames per second of each timed run, in run order. */
  readonly runsFramesPerSec: readonly number[];
  readonly medianFramesPerSec: number;
  /** Wire bytes per second at the median run, 10^6 bytes per MB. */
  readonly medianMBPerSec: number;
}

export interface SerialBenchOptions {
  /** Timed runs per case; the median is reported. */
  readonly runs?: number;
  readonly runMs?: number;
  readonly warmupMs?: number;
  /** Distinct sample frames cycled through (decode: one stream of all of them). */
  readonly distinctFrames?: number;
  /** Bytes per push into the decoder. */
  readonly chunkBytes?: number;
  /** Also measure the NDJSON peer. */
  readonly ndjson?: boolean;
}

export interface SerialBenchResult {
  readonly bench: 'protocol-serial';
  readonly timestamp: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly os: string;
  readonly settings: Required<SerialBenchOptions>;
  readonly figures: readonly SerialFigure[];
  /** COBS v1 over NDJSON, median frames/s, per operation. */
  readonly ratios: readonly { operation: SerialOperation; cobsOverNdjson: number }[];
}

const DEFAULTS: Required<SerialBenchOptions> = {
  runs: 7,
  runMs: 300,
  warmupMs: 500,
  distinctFrames: 10_000,
  chunkBytes: 4096,
  ndjson: true,
};

/** What the firmware of one robot cleaning at 10 Hz sends: slowly draining battery, a walking position. */
export function realisticSampleFrames(count: number, seed = 1): SerialSampleFrame[] {
  const rnd = prng(seed);
  const start = 1_760_000_000_000 + Math.floor(rnd() * 1e9);
  let x = Math.floor(rnd() * 40_000);
  let y = Math.floor(rnd() * 40_000);
  let heading = Math.floor(rnd() * 36_000);
  let soc = 400 + Math.floor(rnd() * 600);
  const frames: SerialSampleFrame[] = [];
  for (let i = 0; i < count; i++) {
    heading = (heading + Math.floor(rnd() * 600) - 300 + 36_000) % 36_000;
    const speed = Math.floor(rnd() * 450);
    x += Math.round((Math.cos((heading / 18_000) * Math.PI) * speed) / 10);
    y += Math.round((Math.sin((heading / 18_000) * Math.PI) * speed) / 10);
    if (rnd() < 0.01 && soc > 0) soc--;
    frames.push({
      type: 'sample',
      bootId: 0x5eed_0000 + seed,
      seq: 10_000 + i,
      robotTime: start + i * 100 + Math.floor(rnd() * 5),
      voltageMv: 14_000 + Math.floor(soc * 2.6) + Math.floor(rnd() * 40),
      currentMa: 1_200 + Math.floor(rnd() * 900) - 100,
      socPermille: soc,
      batteryTempDeciC: 280 + Math.floor(rnd() * 60),
      cycleCount: 312,
      xMm: x,
      yMm: y,
      headingCdeg: heading,
      speedMmS: speed,
      dirtLevel: Math.floor(rnd() * 256),
      mode: rnd() < 0.95 ? 'cleaning' : (ROBOT_MODES[Math.floor(rnd() * ROBOT_MODES.length)] ?? 'idle'),
      errorFlags: rnd() < 0.02 ? 1 << Math.floor(rnd() * 8) : 0,
    });
  }
  return frames;
}

/** The peer: one JSON object per line, validated with the same ranges by zod. */
const ndjsonSampleSchema = telemetrySampleSchema
  .omit({ kind: true, robotId: true, siteId: true, eventTime: true })
  .extend({ type: z.literal('sample'), robotTime: epochMsSchema });

const utf8 = new TextEncoder();

/** Streaming NDJSON reader with the same contract as SerialFrameDecoder: any split, frames in order. */
class NdjsonDecoder {
  private readonly text = new TextDecoder();
  private partial = '';

  push(chunk: Uint8Array): SerialSampleFrame[] {
    const lines = (this.partial + this.text.decode(chunk, { stream: true })).split('\n');
    this.partial = lines.pop() ?? '';
    const frames: SerialSampleFrame[] = [];
    for (const line of lines) {
      const parsed = ndjsonSampleSchema.safeParse(JSON.parse(line));
      if (parsed.success) frames.push(parsed.data);
    }
    return frames;
  }
}

/** Cuts `bytes` into `size`-byte views. */
function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Repeats `step` (which returns the frames it handled) for `ms` milliseconds and returns frames/s.
 * `sink` keeps the results observable so the work cannot be optimised away.
 */
function spin(step: (i: number) => number, ms: number): number {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(ms * 1e6));
  let frames = 0;
  let i = 0;
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < 16; k++) frames += step(i++);
    now = process.hrtime.bigint();
  }
  return frames / (Number(now - start) / 1e9);
}

interface Case {
  readonly codec: SerialCodec;
  readonly operation: SerialOperation;
  readonly frameBytes: number;
  readonly step: (i: number) => number;
}

function serialCases(frames: readonly SerialSampleFrame[], chunkBytes: number): Case[] {
  const n = frames.length;
  const wire = concat(frames.map((f) => encodeSerialFrame(f)));
  const wireChunks = chunks(wire, chunkBytes);
  let decoder = new SerialFrameDecoder();
  let sink = 0;
  return [
    {
      codec: 'cobs-v1',
      operation: 'encode',
      frameBytes: wire.length / n,
      step: (i) => {
        sink += encodeSerialFrame(frames[i % n]!).length;
        return 1;
      },
    },
    {
      codec: 'cobs-v1',
      operation: 'decode',
      frameBytes: wire.length / n,
      step: (i) => {
        const c = i % wireChunks.length;
        // A new decoder at each pass over the stream, so a pass never starts inside the last frame.
        if (c === 0) decoder = new SerialFrameDecoder();
        const results = decoder.push(wireChunks[c]!);
        const last = results.at(-1);
        if (last?.ok === true && last.frame.type === 'sample') sink += last.frame.socPermille;
        else if (results.length > 0) throw new Error(`benchmark stream failed to decode: ${String(last)}`);
        return results.length + (sink === -1 ? 1 : 0);
      },
    },
  ];
}

function ndjsonCases(frames: readonly SerialSampleFrame[], chunkBytes: number): Case[] {
  const n = frames.length;
  const wire = concat(frames.map((f) => utf8.encode(`${JSON.stringify(f)}\n`)));
  const wireChunks = chunks(wire, chunkBytes);
  let decoder = new NdjsonDecoder();
  let sink = 0;
  return [
    {
      codec: 'ndjson',
      operation: 'encode',
      frameBytes: wire.length / n,
      step: (i) => {
        sink += utf8.encode(`${JSON.stringify(frames[i % n])}\n`).length;
        return 1;
      },
    },
    {
      codec: 'ndjson',
      operation: 'decode',
      frameBytes: wire.length / n,
      step: (i) => {
        const c = i % wireChunks.length;
        if (c === 0) decoder = new NdjsonDecoder();
        const decoded = decoder.push(wireChunks[c]!);
        sink += decoded.at(-1)?.socPermille ?? 0;
        return decoded.length + (sink === -1 ? 1 : 0);
      },
    },
  ];
}

/** Runs every case: warm-up, then `runs` timed runs of `runMs` each; reports medians. */
export function measureSerialCodec(options: SerialBenchOptions = {}): SerialBenchResult {
  const settings: Required<SerialBenchOptions> = { ...DEFAULTS, ...options };
  const frames = realisticSampleFrames(settings.distinctFrames);
  const cases = [
    ...serialCases(frames, settings.chunkBytes),
    ...(settings.ndjson ? ndjsonCases(frames, settings.chunkBytes) : []),
  ];
  const figures: SerialFigure[] = cases.map((c) => {
    spin(c.step, settings.warmupMs);
    const rates = Array.from({ length: settings.runs }, () => spin(c.step, settings.runMs));
    const med = median(rates);
    return {
      codec: c.codec,
      operation: c.operation,
      frameBytes: round2(c.frameBytes),
      runsFramesPerSec: rates.map(Math.round),
      medianFramesPerSec: Math.round(med),
      medianMBPerSec: round2((med * c.frameBytes) / 1e6),
    };
  });
  const ratios = (['encode', 'decode'] as const).flatMap((operation) => {
    const ours = figures.find((f) => f.codec === 'cobs-v1' && f.operation === operation);
    const peer = figures.find((f) => f.codec === 'ndjson' && f.operation === operation);
    return ours === undefined || peer === undefined
      ? []
      : [{ operation, cobsOverNdjson: round2(ours.medianFramesPerSec / peer.medianFramesPerSec) }];
  });
  return {
    bench: 'protocol-serial',
    ...machine(),
    os: `${platform()} ${release()}`,
    settings,
    figures,
    ratios,
  };
}

export function formatSerialTable(result: SerialBenchResult): string {
  const rows = [['codec', 'op', 'bytes/frame', 'median frames/s', 'median MB/s', 'runs (frames/s)']];
  for (const f of result.figures) {
    rows.push([
      f.codec,
      f.operation,
      f.frameBytes.toFixed(1),
      f.medianFramesPerSec.toLocaleString('en-US'),
      f.medianMBPerSec.toFixed(1),
      f.runsFramesPerSec.map((r) => `${(r / 1e6).toFixed(2)}M`).join(' '),
    ]);
  }
  const ratios = result.ratios.map((r) => `  ${r.operation}: cobs-v1/ndjson = ${r.cobsOverNdjson}`);
  return textReport({
    title: `protocol serial frames (sample, ${result.settings.chunkBytes}-byte chunks into the decoder)`,
    machine: result,
    rows,
    ratiosHeading: 'ratios (median frames/s):',
    ratios,
  });
}

/** bench-results/protocol-serial.json at the repository root, wherever the command is run from. */
export const SERIAL_RESULT_PATH = resultPath('protocol-serial.json');

export function writeSerialResult(result: SerialBenchResult, path: string = SERIAL_RESULT_PATH): void {
  writeResult(path, result);
}

runMain(import.meta.url, () => measureSerialCodec(), formatSerialTable, SERIAL_RESULT_PATH);
