/**
 * CEP throughput: the three-command-timeouts pattern over 100k robots, with per-key state held in a
 * Map the way keyed state holds it (get, advance, put only when the state object changed, delete
 * when idle). Event generation is not timed; each run replays the same seeded acks from empty state.
 *
 *   npx tsx --conditions=@fleet/source libs/stream/bench/cep.bench.ts [--events N] [--keys N] [--runs N] [--json path]
 *
 * The mix (see generate()): 5% of robots are flaky (30% of their commands time out), 0.5% are
 * broken (every command times out), the rest time out 1% of the time. A second row runs "accepted but not completed within 60 s" (notFollowedBy at the end), whose
 * completions need advanceTime: there the bench fires per-key timers from nextTimer() as a runtime
 * would, at a watermark that trails event time by 5 s.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import {
  Pattern,
  advance,
  advanceTime,
  compile,
  initialState,
  isIdle,
  nextTimer,
  skipPastLastEvent,
  stateSize,
} from '../src/cep/index.js';
import type { CepState, Nfa } from '../src/cep/index.js';

interface Ack {
  readonly commandId: number;
  readonly outcome: 'accepted' | 'completed' | 'rejected' | 'failed' | 'timeout';
  readonly robotTime: number;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const EVENTS = arg('events', 2_000_000);
const KEYS = arg('keys', 100_000);
const RUNS = arg('runs', 7);
const jsonAt = process.argv.indexOf('--json');
const JSON_PATH = jsonAt >= 0 ? process.argv[jsonAt + 1] : undefined;

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

/**
 * Acks in event-time order over one hour. Per command (robot chosen uniformly): a timed-out command
 * yields one 'timeout' ack from the agent 30 s after issue; otherwise 'accepted' within 0.5 s, then
 * 'completed' (or 1% 'failed') 1-20 s later (3%: 20-120 s), or 2% just 'rejected'.
 */
function generate(): { keys: string[]; acks: Ack[] } {
  const rnd = prng(42);
  const health = Array.from({ length: KEYS }, () => {
    const x = rnd();
    return x < 0.005 ? 1 : x < 0.055 ? 0.3 : 0.01; // probability that a command times out
  });
  const names = Array.from({ length: KEYS }, (_, i) => `robot-${String(i).padStart(6, '0')}`);
  const t0 = 1_700_000_000_000;
  const span = 3_600_000;
  const raw: { key: string; ack: Ack }[] = [];
  for (let cmd = 0; raw.length < EVENTS; cmd++) {
    const k = Math.floor(rnd() * KEYS);
    const key = names[k] as string;
    const issued = t0 + Math.floor(rnd() * span);
    const r = rnd();
    if (rnd() < (health[k] as number)) {
      raw.push({ key, ack: { commandId: cmd, outcome: 'timeout', robotTime: issued + 30_000 } });
    } else if (r < 0.02) {
      raw.push({
        key,
        ack: { commandId: cmd, outcome: 'rejected', robotTime: issued + Math.floor(rnd() * 500) },
      });
    } else {
      const accepted = issued + Math.floor(rnd() * 500);
      raw.push({ key, ack: { commandId: cmd, outcome: 'accepted', robotTime: accepted } });
      const slow = rnd() < 0.03;
      const done =
        accepted + (slow ? 20_000 + Math.floor(rnd() * 100_000) : 1_000 + Math.floor(rnd() * 19_000));
      raw.push({ key, ack: { commandId: cmd, outcome: r < 0.03 ? 'failed' : 'completed', robotTime: done } });
    }
  }
  raw.length = EVENTS;
  raw.sort((a, b) => a.ack.robotTime - b.ack.robotTime);
  return { keys: raw.map((x) => x.key), acks: raw.map((x) => x.ack) };
}

const threeTimeouts = compile(
  Pattern.begin<Ack>('timeouts', { skip: skipPastLastEvent() })
    .where((a) => a.outcome === 'timeout')
    .times(3)
    .until((a) => a.outcome === 'completed')
    .within(10 * 60_000),
);

const notCompleted = compile(
  Pattern.begin<Ack>('accepted', { skip: skipPastLastEvent() })
    .where((a) => a.outcome === 'accepted')
    .notFollowedBy('completed')
    .where((a) => a.outcome === 'completed' || a.outcome === 'failed')
    .within(60_000),
);

interface RunResult {
  readonly seconds: number;
  /** User + system CPU time of the process: less sensitive than wall time to a busy machine. */
  readonly cpuSeconds: number;
  readonly matches: number;
  readonly timedOut: number;
  readonly keysHeld: number;
  readonly bytesHeld: number;
}

function runOnce(nfa: Nfa<Ack>, keys: string[], acks: Ack[], timers: boolean): RunResult {
  const states = new Map<string, CepState<Ack>>();
  // Per-key timers, bucketed by second of event time (what a runtime's timer service would do).
  const due = new Map<number, string[]>();
  let firedUpTo = -1;
  const lagMs = 5_000;
  let matches = 0;
  let timedOut = 0;
  const empty = initialState<Ack>();
  const store = (key: string, before: CepState<Ack>, after: CepState<Ack>): void => {
    if (after === before) return;
    if (isIdle(after)) states.delete(key);
    else states.set(key, after);
    if (timers) {
      // Register only when the earliest deadline moved; a stale entry fires as a no-op.
      const at = nextTimer(nfa, after);
      if (at !== undefined && at !== nextTimer(nfa, before)) {
        const bucket = Math.floor(at / 1000);
        const list = due.get(bucket);
        if (list === undefined) due.set(bucket, [key]);
        else list.push(key);
      }
    }
  };

  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < acks.length; i++) {
    const key = keys[i] as string;
    const ack = acks[i] as Ack;
    if (timers) {
      const wm = ack.robotTime - lagMs;
      const second = Math.floor(wm / 1000) - 1;
      if (firedUpTo < 0) firedUpTo = second;
      while (firedUpTo < second) {
        firedUpTo++;
        const list = due.get(firedUpTo);
        if (list === undefined) continue;
        due.delete(firedUpTo);
        for (const k of list) {
          const s = states.get(k);
          if (s === undefined) continue;
          const r = advanceTime(nfa, s, wm);
          matches += r.matches.length;
          timedOut += r.timedOut.length;
          store(k, s, r.state);
        }
      }
    }
    const s = states.get(key) ?? empty;
    const r = advance(nfa, s, ack, ack.robotTime);
    matches += r.matches.length;
    timedOut += r.timedOut.length;
    store(key, s, r.state);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  let bytesHeld = 0;
  for (const s of states.values()) bytesHeld += stateSize(s).approxBytes;
  return { seconds, cpuSeconds, matches, timedOut, keysHeld: states.size, bytesHeld };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const { keys, acks } = generate();
const timeouts = acks.filter((a) => a.outcome === 'timeout').length;
const hours = ((acks[acks.length - 1]?.robotTime ?? 0) - (acks[0]?.robotTime ?? 0)) / 3_600_000;
console.log(
  `CEP bench — ${EVENTS.toLocaleString('en')} acks over ${KEYS.toLocaleString('en')} robots ` +
    `in ${hours.toFixed(2)} h of event time (${((100 * timeouts) / EVENTS).toFixed(1)}% timeouts), ${RUNS} runs, node ${process.version}, ` +
    `${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}`,
);

const rows: Record<string, unknown>[] = [];
for (const [name, nfa, timers] of [
  ['three timeouts in 10 min (times(3).until, skipPastLastEvent)', threeTimeouts, false],
  ['accepted, not completed in 60 s (notFollowedBy + timers)', notCompleted, true],
] as const) {
  runOnce(nfa, keys, acks, timers); // warm-up
  const results = Array.from({ length: RUNS }, () => runOnce(nfa, keys, acks, timers));
  const rates = results.map((r) => EVENTS / r.seconds);
  const cpuRates = results.map((r) => EVENTS / r.cpuSeconds);
  const last = results[results.length - 1] as RunResult;
  const row = {
    pattern: name,
    eventsPerSecond: Math.round(median(rates)),
    minEventsPerSecond: Math.round(Math.min(...rates)),
    maxEventsPerSecond: Math.round(Math.max(...rates)),
    eventsPerCpuSecond: Math.round(median(cpuRates)),
    matches: last.matches,
    timedOut: last.timedOut,
    keysHoldingState: last.keysHeld,
    stateBytesPerHeldKey: last.keysHeld === 0 ? 0 : Math.round(last.bytesHeld / last.keysHeld),
    stateBytesPerKey: Math.round(last.bytesHeld / KEYS),
  };
  rows.push(row);
  console.log(
    `${name}\n  median ${row.eventsPerSecond.toLocaleString('en')} events/s (min ${row.minEventsPerSecond.toLocaleString('en')}, ` +
      `max ${row.maxEventsPerSecond.toLocaleString('en')}), ${row.eventsPerCpuSecond.toLocaleString('en')} per CPU-second; ${row.matches} matches, ${row.timedOut} timed out; ` +
      `${row.keysHoldingState} keys hold state at the end, ${row.stateBytesPerHeldKey} B each (JSON), ${row.stateBytesPerKey} B per key overall`,
  );
}

if (JSON_PATH !== undefined) {
  writeFileSync(
    JSON_PATH,
    `${JSON.stringify({ bench: 'cep', timestamp: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, events: EVENTS, keys: KEYS, runs: RUNS, rows }, null, 2)}\n`,
  );
  console.log(`wrote ${JSON_PATH}`);
}
