/**
 * `npm run bench:state`: the keyed-state figures behind issue #5's targets, for both backends side
 * by side in one run, plus the design alternatives the backends were chosen against.
 *
 * Per case, over KEYS keys (robot ids) of one partition:
 * - get+set: `aggregating(window).add(x)` on a 5-number accumulator (count/sum/min/max/last,
 *   structCodec), keys in a fixed pseudo-random order, 1,000 records per batch with a yield between
 *   batches (as the runtime does; the LevelDB backend flushes there). Median of ROUNDS.
 * - takeChanges: all KEYS keys dirty, one `takeChanges()`; median of ROUNDS. Bytes = sum of values.
 * - restore: `restore()` of those KEYS changes into an empty partition; median of ROUNDS.
 * - memory: heapUsed delta (after gc) from before `open()` to KEYS populated keys, per key
 *   (includes the key strings and an 8-byte array slot per key holding them), and `memoryBytes()` per key.
 * Alternatives, same loop: bytes stored per key with a codec round trip per access (the design not
 * taken), and state handles cached per key instead of a fresh handle per call.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  createLevelBackend,
  createMemoryBackend,
  structCodec,
  type AggregateFunction,
  type KeyGroupState,
  type StateBackend,
  type StateChange,
  type StateDescriptor,
} from '../src/index.js';

const KEYS = 100_000;
const OPS = 300_000;
const ROUNDS = 5;
const BATCH = 1_000;

const accCodec = structCodec(['count', 'sum', 'min', 'max', 'last']);
type Acc = ReturnType<typeof accCodec.decode>;
const window: StateDescriptor<Acc> = { name: 'battery_window', kind: 'aggregating', codec: accCodec };
const fold: AggregateFunction<number, Acc, number> = {
  create: () => ({ count: 0, sum: 0, min: Infinity, max: -Infinity, last: 0 }),
  add(a, x) {
    a.count++;
    a.sum += x;
    if (x < a.min) a.min = x;
    if (x > a.max) a.max = x;
    a.last = x;
    return a;
  },
  result: (a) => a.sum / a.count,
};

// --- harness ------------------------------------------------------------------------------------

function getGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = getGc();

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Key indices in a fixed pseudo-random order (multiplicative stride, coprime with KEYS). */
const order = Uint32Array.from({ length: OPS }, (_, i) => (i * 7919) % KEYS);
const key = (i: number): string => `robot-${String(i).padStart(6, '0')}`;
/** The key strings, built once per case after its heap baseline: state holds them, so they count. */
const makeKeys = (): string[] => Array.from({ length: KEYS }, (_, i) => key(i));
const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Case {
  readonly case: string;
  readonly backend: string;
  readonly getSetOpsPerSec: number;
  readonly takeChangesMs: number | null;
  readonly checkpointBytes: number | null;
  readonly restoreMs: number | null;
  readonly heapBytesPerKey: number;
  readonly memoryBytesPerKey: number | null;
}

async function flushed(s: KeyGroupState): Promise<void> {
  const f = (s as { flush?: () => Promise<void> }).flush;
  if (f !== undefined) await f.call(s);
}

async function measureBackend(label: string, make: () => StateBackend): Promise<Case> {
  const base = heapAfterGc();
  const keys = makeKeys();
  const backend = make();
  const s = await backend.open('bench', 0);
  s.setTime(1_700_000_000_000);
  for (let i = 0; i < KEYS; i++) {
    s.aggregating(window, fold, keys[i] as string).add(i % 100);
    if (i % BATCH === BATCH - 1) await yieldToLoop();
  }
  s.takeChanges();
  await flushed(s);
  const heapBytesPerKey = (heapAfterGc() - base) / KEYS;
  const memoryBytesPerKey = s.memoryBytes() / KEYS;

  const opsPerSec: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < OPS; i++) {
      s.aggregating(window, fold, keys[order[i] ?? 0] as string).add(i % 100);
      if (i % BATCH === BATCH - 1) await yieldToLoop();
    }
    opsPerSec.push(OPS / ((performance.now() - t0) / 1000));
    s.takeChanges();
    await flushed(s);
  }

  const takeMs: number[] = [];
  const restoreMs: number[] = [];
  let checkpoint: StateChange[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < KEYS; i++) s.aggregating(window, fold, keys[i] as string).add(r);
    const t0 = performance.now();
    checkpoint = s.takeChanges();
    takeMs.push(performance.now() - t0);
    await flushed(s);
    const target = await backend.open('bench_restore', r);
    const t1 = performance.now();
    await target.restore(checkpoint);
    restoreMs.push(performance.now() - t1);
    await target.close();
    await backend.drop('bench_restore', r);
  }
  let checkpointBytes = 0;
  for (const c of checkpoint) checkpointBytes += c.value?.byteLength ?? 0;
  await s.close();
  await backend.drop('bench', 0);
  return {
    case: label,
    backend: backend.name,
    getSetOpsPerSec: Math.round(median(opsPerSec)),
    takeChangesMs: Math.round(median(takeMs) * 10) / 10,
    checkpointBytes,
    restoreMs: Math.round(median(restoreMs) * 10) / 10,
    heapBytesPerKey: Math.round(heapBytesPerKey),
    memoryBytesPerKey: Math.round(memoryBytesPerKey),
  };
}

/** The design not taken: serialised bytes per key, a codec round trip per access, a dirty set. */
async function measureBytesStored(): Promise<Case> {
  const base = heapAfterGc();
  const keys = makeKeys();
  const store = new Map<string, Uint8Array>();
  const dirty = new Set<string>();
  const addOne = (k: string, x: number): void => {
    const bytes = store.get(k);
    store.set(k, accCodec.encode(fold.add(bytes === undefined ? fold.create() : accCodec.decode(bytes), x)));
    dirty.add(k);
  };
  for (let i = 0; i < KEYS; i++) addOne(keys[i] as string, i % 100);
  dirty.clear();
  const heapBytesPerKey = (heapAfterGc() - base) / KEYS;
  const opsPerSec: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < OPS; i++) {
      addOne(keys[order[i] ?? 0] as string, i % 100);
      if (i % BATCH === BATCH - 1) await yieldToLoop();
    }
    opsPerSec.push(OPS / ((performance.now() - t0) / 1000));
    dirty.clear();
  }
  return {
    case: 'alternative: bytes stored, codec per access',
    backend: 'memory',
    getSetOpsPerSec: Math.round(median(opsPerSec)),
    takeChangesMs: null,
    checkpointBytes: null,
    restoreMs: null,
    heapBytesPerKey: Math.round(heapBytesPerKey),
    memoryBytesPerKey: null,
  };
}

/** Handles cached per key (what the backend does NOT do): saves the per-call handle, costs memory. */
async function measureCachedHandles(): Promise<Case> {
  const base = heapAfterGc();
  const keys = makeKeys();
  const s = await createMemoryBackend().open('bench', 0);
  const handles = Array.from({ length: KEYS }, (_, i) => s.aggregating(window, fold, keys[i] as string));
  handles.forEach((h, i) => h.add(i % 100));
  s.takeChanges();
  const heapBytesPerKey = (heapAfterGc() - base) / KEYS;
  const opsPerSec: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < OPS; i++) {
      handles[order[i] ?? 0]?.add(i % 100);
      if (i % BATCH === BATCH - 1) await yieldToLoop();
    }
    opsPerSec.push(OPS / ((performance.now() - t0) / 1000));
    s.takeChanges();
  }
  return {
    case: 'alternative: handle cached per key',
    backend: 'memory',
    getSetOpsPerSec: Math.round(median(opsPerSec)),
    takeChangesMs: null,
    checkpointBytes: null,
    restoreMs: null,
    heapBytesPerKey: Math.round(heapBytesPerKey),
    memoryBytesPerKey: null,
  };
}

// --- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-state-bench-'));
  const cases: Case[] = [];
  try {
    // Warm-up (JIT) on a smaller run, not recorded.
    for (let i = 0; i < 3; i++) {
      const s = await createMemoryBackend().open('warm', 0);
      for (let j = 0; j < 200_000; j++) s.aggregating(window, fold, key(j % 20_000)).add(j);
      s.takeChanges();
    }
    cases.push(await measureBackend('memory', () => createMemoryBackend()));
    cases.push(
      await measureBackend('level, cache holds all keys', () => createLevelBackend({ dir: join(dir, 'a') })),
    );
    cases.push(
      await measureBackend('level, cache 10k keys (reads via getSync)', () =>
        createLevelBackend({ dir: join(dir, 'b'), cacheKeys: 10_000 }),
      ),
    );
    cases.push(await measureBytesStored());
    cases.push(await measureCachedHandles());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const cpuList = cpus();
  const memoryCase = cases[0] as Case;
  const result = {
    bench: 'state',
    timestamp: new Date().toISOString(),
    node: process.version,
    cpu: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    settings: {
      keys: KEYS,
      opsPerRound: OPS,
      rounds: ROUNDS,
      batch: BATCH,
      value: '5 x float64 (structCodec)',
    },
    target: {
      figure: 'memory backend: resident heap bytes per key, one 5-number window accumulator',
      value: memoryCase.heapBytesPerKey,
      target: 300,
      met: memoryCase.heapBytesPerKey <= 300,
    },
    cases,
  };

  const fmt = (n: number | null): string => (n === null ? '-' : n.toLocaleString('en-US'));
  const rows = [
    [
      'case',
      'get+set ops/s',
      'takeChanges ms',
      'checkpoint B',
      'restore ms',
      'heap B/key',
      'memoryBytes B/key',
    ],
    ...cases.map((c) => [
      c.case,
      fmt(c.getSetOpsPerSec),
      fmt(c.takeChangesMs),
      fmt(c.checkpointBytes),
      fmt(c.restoreMs),
      fmt(c.heapBytesPerKey),
      fmt(c.memoryBytesPerKey),
    ]),
  ];
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  const lines = rows.map((r) =>
    r
      .map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0)))
      .join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  console.log(
    `keyed state, ${KEYS.toLocaleString('en-US')} keys — ${result.node}, ${result.cpu} (${result.cores} cores), ${result.timestamp}`,
  );
  console.log(lines.join('\n'));
  const ratio = (a: Case | undefined, b: Case | undefined): string =>
    a && b ? (a.getSetOpsPerSec / b.getSetOpsPerSec).toFixed(2) : '-';
  console.log('ratios (get+set ops/s):');
  console.log(`  memory / bytes-stored alternative: ${ratio(cases[0], cases[3])}`);
  console.log(`  memory / level (cache holds all):  ${ratio(cases[0], cases[1])}`);
  console.log(`  memory / level (cache 10k):        ${ratio(cases[0], cases[2])}`);
  console.log(`  cached handles / memory:           ${ratio(cases[4], cases[0])}`);

  const path = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench-results/state.json');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${path}`);
}

await main();
