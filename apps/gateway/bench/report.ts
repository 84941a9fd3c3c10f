/**
 * The result of `bench:ingest` (written as JSON) and its printed form: a table per target and phase,
 * the Kafka check, the Mosquitto ratio, the design targets, and where the CPU went.
 */

export interface WindowResult {
  readonly seconds: number;
  /** Samples PUBACKed per second; the gateway PUBACKs only after Kafka acks=all. */
  readonly samplesPerSecond: number;
  readonly publishesPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly inFlight: number;
  readonly deferredPerSecond: number;
  /** By role (gateway, kafka, generators, ...), `machine` (all of it) and `otherProcesses`. 200 = both cores. */
  readonly cpuPercentOfOneCore: Readonly<Record<string, number>>;
  readonly rssMiB: Readonly<Record<string, number>>;
}

export interface PhaseResult {
  readonly spec: {
    readonly publishers: number;
    readonly batch: number;
    readonly window: number;
    readonly rate: number;
    readonly offeredSamplesPerSecond: number | null;
  };
  readonly windows: readonly WindowResult[];
  readonly median: {
    readonly samplesPerSecond: number;
    /** samples/s divided by the CPU the target used (in cores): comparable across machine load. */
    readonly samplesPerTargetCoreSecond: number;
    readonly publishesPerSecond: number;
    readonly latencyMs: { readonly p50: number; readonly p99: number };
    readonly cpuPercentOfOneCore: Readonly<Record<string, number>>;
  };
  readonly connectionsHeldAtEnd: number;
  readonly kafka:
    | {
        readonly telemetryRecords: number;
        readonly samplesInKafka: number;
        readonly pubackedPublishes: number;
        readonly pubackedSamples: number;
        readonly gatewayCountedSamples: number | undefined;
        readonly everyPubackedSampleInKafka: boolean;
        readonly exactMatch: boolean;
        readonly unacknowledgedLeftInFlight: number;
        readonly lostWithConnection: number;
      }
    | undefined;
}

export interface TargetResult {
  readonly kind: 'gateway' | 'mosquitto';
  readonly processes: number;
  readonly listeners: number;
  readonly ramp: {
    readonly seconds: number;
    readonly connectionsPerSecond: number;
    readonly failedAttempts: number;
    readonly refused: Readonly<Record<string, number>>;
    readonly cpuPercentOfOneCore: Readonly<Record<string, number>>;
  };
  readonly connections: {
    readonly requested: number;
    readonly heldAfterRamp: number;
    readonly heldAtEnd: number;
    readonly droppedDuringRun: number;
    readonly keepalivePingsSent: number;
    readonly perGatewayWorker?: readonly number[];
    readonly gatewayCountedAtEnd?: number;
  };
  readonly memory: {
    readonly rssMiBIdle: number;
    readonly rssMiBHeld: number;
    readonly rssMiBAtEnd: number;
    readonly perProcessMiBAtEnd: readonly number[];
    readonly kibPerConnection: number | null;
    readonly generatorsMiBAtEnd: number;
    readonly kafkaMiBAtEnd: number;
  };
  readonly gatewayMetrics?: {
    readonly backpressureWaits: number;
    readonly kafkaErrors: number;
    readonly authRefusals: number;
  };
  readonly phases: { throughput?: PhaseResult; fleet?: PhaseResult };
}

export interface IngestResult {
  readonly bench: 'ingest';
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly timestamp: string;
  readonly command: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly targets: { gateway?: TargetResult; mosquitto?: TargetResult };
  readonly wallSeconds: number;
}

export interface Summary {
  readonly targets: {
    readonly connectionsHeld: {
      readonly target: number;
      readonly measured: number | null;
      readonly met: boolean | null;
    };
    readonly samplesPerSecond: {
      readonly target: number;
      readonly measured: number | null;
      readonly phase: string;
      readonly met: boolean | null;
    };
  };
  readonly ratiosGatewayToMosquitto: Readonly<Record<string, number>>;
  readonly bottleneck: Readonly<Record<string, string>>;
  readonly notes: readonly string[];
}

const CONNECTIONS_TARGET = 100_000;
const SAMPLES_TARGET = 150_000;

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  const lines = rows.map((r) => r.map((cell, col) => cell.padStart(widths[col] ?? 0)).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines.join('\n');
}

const fmt = (n: number | null | undefined): string =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toLocaleString('en-US');

/** Where the CPU of a phase went, and what that says about the bottleneck. */
function bottleneck(kind: string, phase: PhaseResult): string {
  const cpu = phase.median.cpuPercentOfOneCore;
  const machine = cpu['machine'] ?? 0;
  const shares = [
    'gateway',
    'mosquitto',
    'kafka',
    'generators',
    'postgres',
    'bench',
    'kernelIrq',
    'otherProcesses',
  ]
    .filter((r) => (cpu[r] ?? 0) >= 1)
    .map((r) => `${r} ${cpu[r]}%`)
    .join(', ');
  const offered = phase.spec.offeredSamplesPerSecond;
  const keptUp = offered !== null && phase.median.samplesPerSecond >= 0.97 * offered;
  const others =
    (cpu['otherProcesses'] ?? 0) >= 20
      ? `; processes not started by the bench took ${cpu['otherProcesses']}% of a core, so the figure is lower than on a quiet machine`
      : '';
  if (keptUp)
    return `${kind} kept up with the offered ${fmt(offered)} samples/s (machine ${machine}% of 200%: ${shares})${others}`;
  if (machine >= 185) {
    const top =
      ['gateway', 'mosquitto', 'kafka', 'generators'].sort((a, b) => (cpu[b] ?? 0) - (cpu[a] ?? 0))[0] ?? '';
    return `CPU-bound: both cores busy (machine ${machine}% of 200%: ${shares}); of the bench's processes ${top} used the most${others}`;
  }
  return `not CPU-bound (machine ${machine}% of 200%: ${shares}): bound by the in-flight window (${phase.spec.publishers} × ${phase.spec.window} PUBLISHes) and latency${others}`;
}

export function formatReport(r: IngestResult): { text: string; summary: Summary } {
  const rows: string[][] = [
    [
      'target',
      'phase',
      'conns held',
      'publishers',
      'batch',
      'samples/s',
      'per target core',
      'PUBACK/s',
      'p50 ms',
      'p99 ms',
      'RSS MiB',
      'cpu target%',
      'cpu kafka%',
      'cpu gen%',
      'cpu irq%',
      'cpu other%',
    ],
  ];
  const lines: string[] = [];
  const bottlenecks: Record<string, string> = {};
  for (const t of [r.targets.gateway, r.targets.mosquitto]) {
    if (t === undefined) continue;
    for (const [name, p] of Object.entries(t.phases) as [string, PhaseResult][]) {
      const cpu = p.median.cpuPercentOfOneCore;
      rows.push([
        t.kind,
        name + (p.spec.rate > 0 ? ` (${p.spec.rate}/s)` : ''),
        fmt(p.connectionsHeldAtEnd),
        fmt(p.spec.publishers),
        String(p.spec.batch),
        fmt(p.median.samplesPerSecond),
        fmt(p.median.samplesPerTargetCoreSecond),
        fmt(p.median.publishesPerSecond),
        String(p.median.latencyMs.p50),
        String(p.median.latencyMs.p99),
        fmt(p.windows.at(-1)?.rssMiB[t.kind]),
        String(cpu[t.kind] ?? '-'),
        String(cpu['kafka'] ?? '-'),
        String(cpu['generators'] ?? '-'),
        String(cpu['kernelIrq'] ?? '-'),
        String(cpu['otherProcesses'] ?? '-'),
      ]);
      bottlenecks[`${t.kind}.${name}`] = bottleneck(t.kind, p);
      if (p.kafka) {
        const k = p.kafka;
        lines.push(
          `${t.kind} ${name}: Kafka ${KAFKA_TOPIC} holds ${fmt(k.telemetryRecords)} records = ${fmt(k.samplesInKafka)} samples; PUBACKed ${fmt(k.pubackedPublishes)} PUBLISHes = ${fmt(k.pubackedSamples)} samples` +
            ` (gateway counted ${fmt(k.gatewayCountedSamples)}): ${k.exactMatch ? 'exact match' : k.everyPubackedSampleInKafka ? `all PUBACKed samples present, ${fmt(k.telemetryRecords - k.pubackedPublishes)} extra records from PUBLISHes whose PUBACK was lost` : 'PUBACKed RECORDS MISSING'}`,
        );
      }
    }
    lines.push(
      `${t.kind}: ${fmt(t.connections.heldAfterRamp)} of ${fmt(t.connections.requested)} connections after a ${t.ramp.seconds} s ramp (${fmt(t.ramp.connectionsPerSecond)}/s` +
        `${t.connections.gatewayCountedAtEnd !== undefined ? `; gateway workers count ${fmt(t.connections.gatewayCountedAtEnd)} at the end` : ''}), ` +
        `${fmt(t.connections.droppedDuringRun)} dropped; ${t.processes} processes, RSS ${fmt(t.memory.rssMiBHeld)} MiB held (idle ${fmt(t.memory.rssMiBIdle)}, ${t.memory.kibPerConnection ?? '-'} KiB/connection)`,
    );
  }
  const gw = r.targets.gateway;
  const mq = r.targets.mosquitto;
  const ratios: Record<string, number> = {};
  for (const name of ['throughput', 'fleet'] as const) {
    const a = gw?.phases[name];
    const b = mq?.phases[name];
    if (a && b && b.median.samplesPerSecond > 0)
      ratios[`${name}.samplesPerSecond`] =
        Math.round((a.median.samplesPerSecond / b.median.samplesPerSecond) * 100) / 100;
  }
  if (gw && mq && mq.memory.rssMiBHeld > 0)
    ratios['rssHeld'] = Math.round((gw.memory.rssMiBHeld / mq.memory.rssMiBHeld) * 100) / 100;
  const best = gw
    ? Object.entries(gw.phases).sort(
        ([, a], [, b]) => b.median.samplesPerSecond - a.median.samplesPerSecond,
      )[0]
    : undefined;
  const summary: Summary = {
    targets: {
      connectionsHeld: {
        target: CONNECTIONS_TARGET,
        measured: gw?.connections.heldAtEnd ?? null,
        met: gw ? gw.connections.heldAtEnd >= CONNECTIONS_TARGET : null,
      },
      samplesPerSecond: {
        target: SAMPLES_TARGET,
        measured: best?.[1].median.samplesPerSecond ?? null,
        phase: best?.[0] ?? '-',
        met: best
          ? best[1].median.samplesPerSecond >= SAMPLES_TARGET &&
            (best[1].kafka?.everyPubackedSampleInKafka ?? false)
          : null,
      },
    },
    ratiosGatewayToMosquitto: ratios,
    bottleneck: bottlenecks,
    notes: [
      'samples/s = samples PUBACKed per second, median over the measured windows; the gateway PUBACKs only after Kafka acks=all, so for the gateway this is samples/s durably in Kafka (checked against the topic end offsets after each phase).',
      'Mosquitto has no Kafka behind it: its figure is the MQTT QoS 1 PUBACK rate only, not durable ingest.',
      'All processes share the 2 cores: gateway workers, Kafka (JVM), PostgreSQL, the load generators and whatever else runs on the machine (cpu other%).',
    ],
  };
  const text = [
    `bench:ingest — MQTT QoS 1 → ${gw ? 'gateway → Kafka acks=all' : ''}${gw && mq ? ' vs ' : ''}${mq ? 'Mosquitto (no Kafka: MQTT QoS 1 ack rate only)' : ''} — ${r.node}, ${r.cpu} (${r.cores} cores, ${r.memoryGiB} GiB), ${r.timestamp}`,
    `(medians over the measured windows; cpu in % of one core, the machine has 200%)`,
    table(rows),
    ...lines,
    ...(Object.keys(ratios).length > 0
      ? [
          `gateway / Mosquitto: ${Object.entries(ratios)
            .map(([k, v]) => `${k} ${v}×`)
            .join(', ')}`,
        ]
      : []),
    `targets: ${fmt(CONNECTIONS_TARGET)} connections held: ${fmt(summary.targets.connectionsHeld.measured)} (${summary.targets.connectionsHeld.met ? 'met' : 'NOT met'}); ` +
      `>= ${fmt(SAMPLES_TARGET)} samples/s into Kafka: ${fmt(summary.targets.samplesPerSecond.measured)} in phase ${summary.targets.samplesPerSecond.phase} (${summary.targets.samplesPerSecond.met ? 'met' : 'NOT met'})`,
    'where the time went:',
    ...Object.entries(bottlenecks).map(([k, v]) => `  ${k}: ${v}`),
  ].join('\n');
  return { text, summary };
}

const KAFKA_TOPIC = 'fleet.telemetry.v1';
