/**
 * `npm run bench:ingest`: MQTT QoS 1 telemetry from many robot connections through the gateway into
 * Kafka (acks=all), and the same load against Mosquitto as the peer figure. See README.md here.
 *
 * Real parts: a Kafka broker (KRaft, started from the cached jars, or KAFKA_BROKERS), PostgreSQL
 * (embedded, or DATABASE_URL) holding the provisioned robots, the gateway CLI with node:cluster
 * workers, Mosquitto (Debian package), and load-generator processes with lean MQTT clients.
 *
 * Per target: robots connect at a bounded rate and stay connected (keepalive); then each phase runs
 * a warm-up and a measured span cut into windows, and is drained (no PUBLISH left unacknowledged):
 *  - throughput: `--publishers` of the connections publish batches of `--batch` samples with
 *    `--window` PUBLISHes in flight each, as fast as PUBACKs come back (closed loop);
 *  - fleet: every connection publishes one batch of 10 samples per second (10 Hz sampling), open loop.
 * After each gateway phase, Kafka's end offsets of the telemetry topic must account for every
 * PUBACKed PUBLISH (one record per PUBLISH). Figures are medians over the windows.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createKafkaLog } from '@fleet/log';
import { createPool, migrate } from '@fleet/db';
import { KafkaTopics } from '@fleet/protocol';
import {
  DEFAULT_KAFKA_VERSION,
  createTestDatabase,
  startKafkaBroker,
  startTestPostgres,
} from '@fleet/testing';
import { CredentialStore } from '../src/auth/credentials.js';
import { LatencyHistogram } from './histogram.js';
import {
  robotId,
  robotSecret,
  siteId,
  type ConnectionCounters,
  type FromGenerator,
  type GeneratorSetup,
  type LoadCounters,
  type LoadSpec,
  type ToGenerator,
} from './fleet.js';
import { descendants, machineCpu, pidsWithCommandLine, readProc } from './procfs.js';
import { startGatewayProcess, startMosquittoInstances, type GatewayTarget, type Target } from './targets.js';
import {
  formatReport,
  type IngestResult,
  type PhaseResult,
  type TargetResult,
  type WindowResult,
} from './report.js';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
/** Sockets per process stay below the open-file limit (20,000 here) with room for the rest. */
const MAX_CONNECTIONS_PER_PROCESS = 18_000;

interface Options {
  readonly connections: number;
  readonly publishers: number;
  readonly batch: number;
  readonly window: number;
  readonly rate: number;
  readonly phases: readonly ('throughput' | 'fleet')[];
  readonly fleetBatch: number;
  readonly fleetRate: number;
  readonly workers: number;
  readonly generators: number;
  readonly seconds: number;
  readonly windows: number;
  readonly warmup: number;
  readonly connectRate: number;
  readonly maxPending: number;
  /** Folder for V8 CPU profiles of the gateway processes (written when they exit). */
  readonly profileGateway: string | undefined;
  readonly keepalive: number;
  readonly partitions: number;
  readonly targets: readonly ('gateway' | 'mosquitto')[];
  readonly out: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string' },
      publishers: { type: 'string' },
      batch: { type: 'string' },
      window: { type: 'string' },
      rate: { type: 'string' },
      phases: { type: 'string' },
      'fleet-batch': { type: 'string' },
      'fleet-rate': { type: 'string' },
      workers: { type: 'string' },
      generators: { type: 'string' },
      seconds: { type: 'string' },
      windows: { type: 'string' },
      warmup: { type: 'string' },
      'connect-rate': { type: 'string' },
      'max-pending': { type: 'string' },
      'profile-gateway': { type: 'string' },
      keepalive: { type: 'string' },
      partitions: { type: 'string' },
      target: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const int = (name: string, raw: string | undefined, fallback: number, min = 1): number => {
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got ${raw}`);
    return n;
  };
  const connections = int('connections', values.connections, 100_000);
  const perProcess = Math.ceil(connections / MAX_CONNECTIONS_PER_PROCESS);
  const workers = int('workers', values.workers, Math.max(6, perProcess));
  if (workers < perProcess) {
    throw new Error(
      `--workers ${workers} cannot hold ${connections} connections: each process holds at most ${MAX_CONNECTIONS_PER_PROCESS} (open-file limit); use >= ${perProcess}`,
    );
  }
  const generators = int('generators', values.generators, Math.max(1, Math.ceil(connections / 16_000)));
  if (generators < perProcess || generators > 250)
    throw new Error(`--generators must be ${perProcess}..250 for ${connections} connections`);
  const phases =
    values.phases === 'none' ? [] : (values.phases ?? 'throughput,fleet').split(',').map((p) => p.trim());
  for (const p of phases)
    if (p !== 'throughput' && p !== 'fleet')
      throw new Error(`--phases: unknown phase ${p} (throughput, fleet)`);
  const target = values.target ?? 'gateway';
  if (!['gateway', 'mosquitto', 'both'].includes(target))
    throw new Error('--target must be gateway, mosquitto or both');
  return {
    connections,
    publishers: Math.min(connections, int('publishers', values.publishers, 1000)),
    batch: int('batch', values.batch, 100),
    window: int('window', values.window, 4),
    rate: int('rate', values.rate, 0, 0),
    phases: phases as ('throughput' | 'fleet')[],
    fleetBatch: int('fleet-batch', values['fleet-batch'], 10),
    fleetRate: int('fleet-rate', values['fleet-rate'], 1, 0.001),
    workers,
    generators,
    seconds: int('seconds', values.seconds, 21),
    windows: int('windows', values.windows, 3),
    warmup: int('warmup', values.warmup, 4, 0),
    connectRate: int('connect-rate', values['connect-rate'], 3000),
    maxPending: int('max-pending', values['max-pending'], 64),
    profileGateway: values['profile-gateway'] === undefined ? undefined : resolve(values['profile-gateway']),
    keepalive: int('keepalive', values.keepalive, 60, 5),
    partitions: int('partitions', values.partitions, 12),
    targets: target === 'both' ? ['gateway', 'mosquitto'] : [target as 'gateway' | 'mosquitto'],
    out: resolve(values.out ?? join(ROOT, 'bench-results/ingest.json')),
  };
}

/** `total` split into `parts` integers that differ by at most one. */
function split(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(((i + 1) * total) / parts) - Math.floor((i * total) / parts),
  );
}

function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const started = performance.now();
function log(line: string): void {
  console.error(
    `[bench:ingest ${String(Math.round((performance.now() - started) / 1000)).padStart(3)} s] ${line}`,
  );
}

/** What Ctrl-C must stop: the gateway or Mosquitto, the generators, PostgreSQL and Kafka. */
const running = new Set<() => Promise<unknown>>();
function stopOnInterrupt(stop: () => Promise<unknown>): () => void {
  running.add(stop);
  return () => running.delete(stop);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything`);
    void Promise.allSettled([...running].reverse().map((stop) => stop())).then(() => process.exit(130));
  });
}

/** The generator processes, driven over IPC. */
class Generators {
  readonly #children: ChildProcess[] = [];
  readonly #progress: ConnectionCounters[] = [];
  readonly #waiting = new Map<string, (message: FromGenerator) => void>();
  #nextId = 1;

  static async start(setups: readonly GeneratorSetup[]): Promise<Generators> {
    const g = new Generators();
    await Promise.all(setups.map((setup) => g.#fork(setup)));
    return g;
  }

  get pids(): number[] {
    return this.#children.map((c) => c.pid as number);
  }

  #fork(setup: GeneratorSetup): Promise<void> {
    const child = fork(join(ROOT, 'apps/gateway/bench/load-generator.ts'), [JSON.stringify(setup)], {
      cwd: ROOT,
      execArgv: ['--conditions=@fleet/source', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#children[setup.index] = child;
    this.#progress[setup.index] = { up: 0, pending: 0, refused: {}, failed: 0, dropped: 0, pingsSent: 0 };
    return new Promise((resolveReady, reject) => {
      child.on('message', (message: FromGenerator) => {
        switch (message.type) {
          case 'ready':
            resolveReady();
            return;
          case 'progress':
            this.#progress[setup.index] = message.connections;
            return;
          case 'error':
            reject(new Error(`generator ${setup.index}: ${message.message}`));
            return;
          default:
            this.#progress[setup.index] = message.connections;
            this.#waiting.get(`${setup.index}:${message.id}`)?.(message);
        }
      });
      child.once('exit', (code) =>
        reject(new Error(`generator ${setup.index} exited (${code}) before it was ready`)),
      );
    });
  }

  broadcast(message: ToGenerator): void {
    for (const child of this.#children) child.send(message);
  }

  send(index: number, message: ToGenerator): void {
    this.#children[index]?.send(message);
  }

  /** Sums of the latest progress reports. */
  progress(): ConnectionCounters {
    const refused: Record<string, number> = {};
    let up = 0,
      pending = 0,
      failed = 0,
      dropped = 0,
      pingsSent = 0;
    for (const p of this.#progress) {
      up += p.up;
      pending += p.pending;
      failed += p.failed;
      dropped += p.dropped;
      pingsSent += p.pingsSent;
      for (const [code, n] of Object.entries(p.refused)) refused[code] = (refused[code] ?? 0) + n;
    }
    return { up, pending, refused, failed, dropped, pingsSent };
  }

  /** Sends a request carrying a fresh id to every generator and collects the replies. */
  async ask(make: (id: number) => ToGenerator): Promise<FromGenerator[]> {
    const id = this.#nextId++;
    const replies = this.#children.map(
      (_, index) =>
        new Promise<FromGenerator>((resolveReply) => {
          this.#waiting.set(`${index}:${id}`, (message) => {
            this.#waiting.delete(`${index}:${id}`);
            resolveReply(message);
          });
        }),
    );
    this.broadcast(make(id));
    return Promise.all(replies);
  }

  async close(): Promise<void> {
    for (const child of this.#children) {
      if (child.connected) child.send({ type: 'close' } satisfies ToGenerator);
    }
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
          }),
      ),
    );
  }
}

interface Totals {
  readonly load: LoadCounters;
  readonly inFlight: number;
  readonly latency: LatencyHistogram;
}

function totals(replies: readonly FromGenerator[]): Totals {
  const latency = new LatencyHistogram();
  let sent = 0,
    acked = 0,
    ackedSamples = 0,
    deferred = 0,
    lostInFlight = 0,
    inFlight = 0;
  for (const r of replies) {
    if (r.type !== 'snapshot' && r.type !== 'drained') continue;
    sent += r.load.sent;
    acked += r.load.acked;
    ackedSamples += r.load.ackedSamples;
    deferred += r.load.deferred;
    lostInFlight += r.load.lostInFlight;
    inFlight += r.inFlight;
    latency.add(r.latency);
  }
  return { load: { sent, acked, ackedSamples, deferred, lostInFlight }, inFlight, latency };
}

type Role = 'gateway' | 'mosquitto' | 'kafka' | 'postgres' | 'generators' | 'bench';

interface RoleSample {
  /** Per role, CPU seconds per pid (a process that exits between two samples takes its time with it). */
  readonly cpuSeconds: Record<string, Map<number, number>>;
  readonly rssBytes: Record<string, number>;
  readonly perProcessRss: Record<string, number[]>;
  readonly busySeconds: number;
  readonly irqSeconds: number;
  readonly totalSeconds: number;
  readonly at: number;
}

/** CPU time and RSS of every process of the run, by role, from /proc. */
class Processes {
  readonly #roles: () => Promise<Record<Role, number[]>>;

  constructor(roles: () => Promise<Record<Role, number[]>>) {
    this.#roles = roles;
  }

  async sample(): Promise<RoleSample> {
    const roles = await this.#roles();
    const cpuSeconds: Record<string, Map<number, number>> = {};
    const rssBytes: Record<string, number> = {};
    const perProcessRss: Record<string, number[]> = {};
    for (const [role, pids] of Object.entries(roles)) {
      const samples = (await Promise.all(pids.map((pid) => readProc(pid)))).filter((s) => s !== undefined);
      cpuSeconds[role] = new Map(samples.map((s) => [s.pid, s.cpuSeconds]));
      rssBytes[role] = samples.reduce((n, s) => n + s.rssBytes, 0);
      perProcessRss[role] = samples.map((s) => s.rssBytes);
    }
    const machine = await machineCpu();
    return { cpuSeconds, rssBytes, perProcessRss, ...machine, at: performance.now() };
  }
}

/** CPU used between two samples, in % of one core, by role, plus the rest of the machine. */
function cpuBetween(a: RoleSample, b: RoleSample): Record<string, number> {
  const seconds = (b.at - a.at) / 1000;
  const out: Record<string, number> = {};
  let ours = 0;
  for (const [role, pids] of Object.entries(b.cpuSeconds)) {
    let cpuSeconds = 0;
    for (const [pid, t] of pids) cpuSeconds += t - (a.cpuSeconds[role]?.get(pid) ?? 0);
    const used = cpuSeconds / seconds;
    out[role] = Math.round(used * 1000) / 10;
    ours += used;
  }
  const machineBusy = (b.busySeconds - a.busySeconds) / seconds;
  const irq = (b.irqSeconds - a.irqSeconds) / seconds;
  out['kernelIrq'] = Math.round(irq * 1000) / 10;
  out['machine'] = Math.round(machineBusy * 1000) / 10;
  out['otherProcesses'] = Math.round(Math.max(0, machineBusy - ours - irq) * 1000) / 10;
  return out;
}

const MiB = 2 ** 20;

async function runPhase(
  target: 'gateway' | 'mosquitto',
  name: 'throughput' | 'fleet',
  spec: Omit<LoadSpec, 'publishers'> & { publishers: number },
  o: Options,
  generators: Generators,
  processes: Processes,
  kafka: { endOffsets(): Promise<bigint> } | undefined,
  gateway: GatewayTarget | undefined,
): Promise<PhaseResult> {
  const offsetsBefore = kafka ? await kafka.endOffsets() : undefined;
  const gatewaySamplesBefore = gateway
    ? (await gateway.metrics()).reduce((n, m) => n + m.samples, 0)
    : undefined;
  const perGenerator = split(spec.publishers, o.generators);
  perGenerator.forEach((publishers, index) =>
    generators.send(index, { type: 'load', load: { ...spec, publishers } }),
  );
  const offered = spec.rate > 0 ? spec.publishers * spec.rate * spec.batch : undefined;
  // The open loop starts with every robot due at once: give the queue time to settle.
  const warmup = spec.rate > 0 ? Math.max(o.warmup, 10) : o.warmup;
  log(
    `${name}: ${spec.publishers} publishers, batch ${spec.batch}, window ${spec.window}, ${spec.rate > 0 ? `${spec.rate}/s each (offered ${offered} samples/s)` : 'closed loop'}; warm-up ${warmup} s`,
  );
  await sleep(warmup * 1000);
  let previous = totals(await generators.ask((id) => ({ type: 'snapshot', id })));
  let previousProcs = await processes.sample();
  const windows: WindowResult[] = [];
  const windowSeconds = o.seconds / o.windows;
  for (let w = 0; w < o.windows; w++) {
    await sleep(windowSeconds * 1000);
    const now = totals(await generators.ask((id) => ({ type: 'snapshot', id })));
    const procs = await processes.sample();
    const seconds = (procs.at - previousProcs.at) / 1000;
    const window: WindowResult = {
      seconds: Math.round(seconds * 100) / 100,
      samplesPerSecond: Math.round((now.load.ackedSamples - previous.load.ackedSamples) / seconds),
      publishesPerSecond: Math.round((now.load.acked - previous.load.acked) / seconds),
      latencyMs: { p50: round(now.latency.quantile(0.5)), p99: round(now.latency.quantile(0.99)) },
      inFlight: now.inFlight,
      deferredPerSecond: Math.round((now.load.deferred - previous.load.deferred) / seconds),
      cpuPercentOfOneCore: cpuBetween(previousProcs, procs),
      rssMiB: Object.fromEntries(
        Object.entries(procs.rssBytes).map(([role, bytes]) => [role, Math.round(bytes / MiB)]),
      ),
    };
    windows.push(window);
    log(
      `${name} window ${w + 1}/${o.windows}: ${window.samplesPerSecond} samples/s, ${window.publishesPerSecond} PUBACK/s, p50 ${window.latencyMs.p50} ms, p99 ${window.latencyMs.p99} ms, cpu ${JSON.stringify(window.cpuPercentOfOneCore)}`,
    );
    previous = now;
    previousProcs = procs;
  }
  const drained = totals(await generators.ask((id) => ({ type: 'stop-load', id, timeoutMs: 60_000 })));
  const held = generators.progress();
  let kafkaCheck: PhaseResult['kafka'];
  if (kafka && offsetsBefore !== undefined) {
    const records = Number((await kafka.endOffsets()) - offsetsBefore);
    const gatewaySamples = gateway
      ? (await gateway.metrics()).reduce((n, m) => n + m.samples, 0) - (gatewaySamplesBefore ?? 0)
      : undefined;
    kafkaCheck = {
      telemetryRecords: records,
      samplesInKafka: records * spec.batch,
      pubackedPublishes: drained.load.acked,
      pubackedSamples: drained.load.ackedSamples,
      gatewayCountedSamples: gatewaySamples,
      everyPubackedSampleInKafka: records >= drained.load.acked,
      exactMatch: records === drained.load.acked,
      unacknowledgedLeftInFlight: drained.inFlight,
      lostWithConnection: drained.load.lostInFlight,
    };
    log(
      `${name}: Kafka has ${records} telemetry records (${records * spec.batch} samples) for ${drained.load.acked} PUBACKed PUBLISHes (${drained.load.ackedSamples} samples): ${kafkaCheck.exactMatch ? 'exact match' : kafkaCheck.everyPubackedSampleInKafka ? 'every PUBACKed sample is there (plus unacknowledged ones)' : 'MISSING RECORDS'}`,
    );
  }
  const last = windows.at(-1);
  return {
    spec: { ...spec, offeredSamplesPerSecond: offered ?? null },
    windows,
    median: {
      samplesPerSecond: median(windows.map((w) => w.samplesPerSecond)),
      samplesPerTargetCoreSecond: Math.round(
        median(
          windows.map((w) => w.samplesPerSecond / Math.max(0.01, (w.cpuPercentOfOneCore[target] ?? 0) / 100)),
        ),
      ),
      publishesPerSecond: median(windows.map((w) => w.publishesPerSecond)),
      latencyMs: {
        p50: round(median(windows.map((w) => w.latencyMs.p50))),
        p99: round(median(windows.map((w) => w.latencyMs.p99))),
      },
      cpuPercentOfOneCore: Object.fromEntries(
        Object.keys(last?.cpuPercentOfOneCore ?? {}).map((role) => [
          role,
          round(median(windows.map((w) => w.cpuPercentOfOneCore[role] ?? NaN))),
        ]),
      ),
    },
    connectionsHeldAtEnd: held.up,
    kafka: kafkaCheck,
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

async function benchTarget(
  kind: 'gateway' | 'mosquitto',
  o: Options,
  env: {
    kafkaBrokers: string;
    databaseUrl: string;
    seed: string;
    rolePids: (target: Target, generators: Generators) => Promise<Record<Role, number[]>>;
  },
): Promise<TargetResult> {
  const instances = kind === 'gateway' ? o.workers : o.workers;
  log(`${kind}: starting (${instances} ${kind === 'gateway' ? 'workers' : 'instances'})`);
  const target: Target =
    kind === 'gateway'
      ? await startGatewayProcess({
          root: ROOT,
          workers: o.workers,
          kafkaBrokers: env.kafkaBrokers,
          databaseUrl: env.databaseUrl,
          partitions: o.partitions,
          stderrFile: join(tmpdir(), `fleet-bench-ingest-gateway-${process.pid}.log`),
          nodeFlags: o.profileGateway ? ['--cpu-prof', `--cpu-prof-dir=${o.profileGateway}`] : [],
        })
      : await startMosquittoInstances(o.workers);
  const forgetTarget = stopOnInterrupt(() => target.stop());
  const gateway = target.kind === 'gateway' ? (target as GatewayTarget) : undefined;
  let generators: Generators | undefined;
  let forgetGenerators = (): void => undefined;
  const kafkaLog = gateway
    ? createKafkaLog({ brokers: env.kafkaBrokers.split(','), clientId: 'bench-ingest' })
    : undefined;
  const admin = kafkaLog?.admin();
  const kafka = admin
    ? { endOffsets: async () => (await admin.endOffsets(KafkaTopics.telemetry)).reduce((a, b) => a + b, 0n) }
    : undefined;
  try {
    const counts = split(o.connections, o.generators);
    const rates = split(o.connectRate, o.generators);
    let first = 0;
    const setups: GeneratorSetup[] = counts.map((robots, index) => {
      const setup: GeneratorSetup = {
        index,
        endpoints: target.endpoints(index),
        firstRobot: first,
        robots,
        seed: env.seed,
        keepaliveSeconds: o.keepalive,
        connectRate: Math.max(1, rates[index] ?? 1),
        maxPendingConnects: o.maxPending,
      };
      first += robots;
      return setup;
    });
    generators = await Generators.start(setups);
    const g = generators;
    forgetGenerators = stopOnInterrupt(() => g.close());
    const processes = new Processes(() => env.rolePids(target, g));
    const idle = await processes.sample();
    const rssIdle = idle.rssBytes[kind] ?? 0;

    // Ramp: every robot connects once, at the bounded rate; refused ones are not retried.
    const rampStart = performance.now();
    const rampProcs = await processes.sample();
    generators.broadcast({ type: 'connect' });
    let lastUp = -1;
    let lastChange = performance.now();
    for (;;) {
      await sleep(1000);
      const p = generators.progress();
      const refused = Object.values(p.refused).reduce((a, b) => a + b, 0);
      if (p.up !== lastUp) {
        lastUp = p.up;
        lastChange = performance.now();
      }
      const elapsed = (performance.now() - rampStart) / 1000;
      if (Math.round(elapsed) % 5 === 0)
        log(
          `${kind}: ${p.up} connected, ${p.pending} pending, ${p.failed} failed attempts, ${refused} refused (${Math.round(elapsed)} s)`,
        );
      if (p.up + refused >= o.connections && p.pending === 0) break;
      if (performance.now() - lastChange > 30_000) {
        log(`${kind}: no progress for 30 s; measuring with ${p.up} connections`);
        break;
      }
    }
    const rampSeconds = (performance.now() - rampStart) / 1000;
    const rampEnd = await processes.sample();
    await sleep(2000);
    const afterRamp = generators.progress();
    const procsHeld = await processes.sample();
    const rssHeld = procsHeld.rssBytes[kind] ?? 0;
    const workerMetrics = gateway ? await gateway.metrics() : undefined;
    log(
      `${kind}: ${afterRamp.up} connections held after ${round(rampSeconds)} s; ${kind} RSS ${Math.round(rssHeld / MiB)} MiB`,
    );

    const phases: TargetResult['phases'] = {};
    for (const phase of o.phases) {
      const spec =
        phase === 'throughput'
          ? { publishers: o.publishers, batch: o.batch, window: o.window, rate: o.rate }
          : // An agent with one batch in flight: under overload the queue is one batch per robot.
            { publishers: o.connections, batch: o.fleetBatch, window: 1, rate: o.fleetRate };
      phases[phase] = await runPhase(kind, phase, spec, o, generators, processes, kafka, gateway);
    }
    const end = generators.progress();
    const procsEnd = await processes.sample();
    const gatewayEnd = gateway ? await gateway.metrics() : undefined;
    return {
      kind,
      processes: instances,
      listeners: target.listeners,
      ramp: {
        seconds: round(rampSeconds),
        connectionsPerSecond: Math.round(afterRamp.up / rampSeconds),
        failedAttempts: afterRamp.failed,
        refused: afterRamp.refused,
        cpuPercentOfOneCore: cpuBetween(rampProcs, rampEnd),
      },
      connections: {
        requested: o.connections,
        heldAfterRamp: afterRamp.up,
        heldAtEnd: end.up,
        droppedDuringRun: end.dropped,
        keepalivePingsSent: end.pingsSent,
        ...(workerMetrics ? { perGatewayWorker: workerMetrics.map((m) => m.connections) } : {}),
        ...(gatewayEnd ? { gatewayCountedAtEnd: gatewayEnd.reduce((n, m) => n + m.connections, 0) } : {}),
      },
      memory: {
        rssMiBIdle: Math.round(rssIdle / MiB),
        rssMiBHeld: Math.round(rssHeld / MiB),
        rssMiBAtEnd: Math.round((procsEnd.rssBytes[kind] ?? 0) / MiB),
        perProcessMiBAtEnd: (procsEnd.perProcessRss[kind] ?? []).map((b) => Math.round(b / MiB)),
        kibPerConnection:
          afterRamp.up > 0 ? Math.round(((rssHeld - rssIdle) / 1024 / afterRamp.up) * 10) / 10 : null,
        generatorsMiBAtEnd: Math.round((procsEnd.rssBytes['generators'] ?? 0) / MiB),
        kafkaMiBAtEnd: Math.round((procsEnd.rssBytes['kafka'] ?? 0) / MiB),
      },
      ...(gatewayEnd
        ? {
            gatewayMetrics: {
              backpressureWaits: gatewayEnd.reduce((n, m) => n + m.backpressureWaits, 0),
              kafkaErrors: gatewayEnd.reduce((n, m) => n + m.kafkaErrors, 0),
              authRefusals: gatewayEnd.reduce((n, m) => n + m.authRefusals, 0),
            },
          }
        : {}),
      phases,
    };
  } finally {
    forgetGenerators();
    forgetTarget();
    await generators?.close();
    await admin?.close();
    log(`${kind}: stopping`);
    await target.stop();
  }
}

async function main(): Promise<void> {
  const o = options();
  const startedAt = performance.now();
  const seed = `bench-${Date.now()}`;
  const machine = {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    timestamp: new Date().toISOString(),
  };
  log(
    `${o.connections} connections over ${o.generators} generator processes; targets ${o.targets.join(', ')}; phases ${o.phases.join(', ')}`,
  );

  const needsGateway = o.targets.includes('gateway');
  const externalKafka = process.env['KAFKA_BROKERS'] || undefined;
  const [kafkaBroker, postgres] = needsGateway
    ? await Promise.all([
        externalKafka
          ? Promise.resolve(undefined)
          : startKafkaBroker({
              version: process.env['KAFKA_VERSION'] || DEFAULT_KAFKA_VERSION,
              heapMb: 1024,
            }),
        startTestPostgres(),
      ])
    : [undefined, undefined];
  const kafkaBrokers = externalKafka ?? kafkaBroker?.brokers ?? '';
  let kafkaPids = kafkaBroker ? [kafkaBroker.pid] : [];
  if (needsGateway && externalKafka) kafkaPids = await pidsWithCommandLine('kafka.Kafka');
  const forgetServices = stopOnInterrupt(async () => {
    await postgres?.stop();
    await kafkaBroker?.stop();
  });
  if (postgres) log(postgres.description);
  if (kafkaBroker) log(`Kafka ${kafkaBroker.version} on ${kafkaBroker.brokers} (pid ${kafkaBroker.pid})`);

  const results: TargetResult[] = [];
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  try {
    let databaseUrl = '';
    if (postgres) {
      database = await createTestDatabase(postgres.url, 'bench_ingest');
      databaseUrl = database.url;
      const pool = createPool({ url: databaseUrl, max: 2, applicationName: 'bench-ingest' });
      try {
        await migrate(pool);
        const t = performance.now();
        const robots = Array.from({ length: o.connections }, (_, i) => ({
          robotId: robotId(i),
          siteId: siteId(i),
          secret: robotSecret(seed, i),
        }));
        const added = await new CredentialStore(pool, { cacheTtlMs: 0 }).provisionMany(robots);
        log(`provisioned ${added} robots in ${Math.round(performance.now() - t)} ms`);
      } finally {
        await pool.end();
      }
    }
    const rolePids = async (target: Target, generators: Generators): Promise<Record<Role, number[]>> => {
      const ours = await descendants(process.pid);
      const targetPids = await target.pids();
      return {
        gateway: target.kind === 'gateway' ? targetPids : [],
        mosquitto: target.kind === 'mosquitto' ? targetPids : [],
        kafka: kafkaPids,
        postgres: ours.filter((p) => p.comm === 'postgres').map((p) => p.pid),
        generators: generators.pids,
        bench: [process.pid],
      };
    };
    for (const kind of o.targets)
      results.push(await benchTarget(kind, o, { kafkaBrokers, databaseUrl, seed, rolePids }));
  } finally {
    forgetServices();
    await database?.drop().catch(() => undefined);
    await postgres?.stop();
    await kafkaBroker?.stop();
  }

  const result: IngestResult = {
    bench: 'ingest',
    ...machine,
    command: `npm run bench:ingest -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: { ...o, out: undefined },
    targets: Object.fromEntries(results.map((r) => [r.kind, r])),
    wallSeconds: Math.round((performance.now() - startedAt) / 1000),
  };
  const { text, summary } = formatReport(result);
  const final = { ...result, summary };
  console.log(text);
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(resolve(o.out, '..'), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(final, null, 2)}\n`);
  console.log(`\nwrote ${o.out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench:ingest failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
