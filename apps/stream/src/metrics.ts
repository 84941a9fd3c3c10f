/**
 * The stream instance's Prometheus metrics, in a registry of its own (several instances can share
 * a process in tests). Two sources, no new plumbing in the runtime:
 *
 *   - per owned partition, read at scrape time from `StreamInstance.status()` (lag, watermark,
 *     keys, late samples, timers, checkpoint age) and `pendingOutbox()`: a partition that is no
 *     longer owned simply has no series at the next scrape;
 *   - per broadcast state (the job's compacted metadata topics), from `broadcastStatus()`: entries,
 *     updates, deletes, malformed records skipped, lag behind the topic's end, and readiness;
 *   - the runtime's `node:diagnostics_channel` events (checkpoint, restore, fenced, error) for
 *     histograms and counters; a revoked partition's event series are removed on the assignment
 *     event that revokes it.
 *
 * Names follow Prometheus conventions: `_total` counters, base units (seconds, bytes); the
 * watermark is a Unix time in seconds.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  RUNTIME_CHANNELS,
  type AssignmentEvent,
  type BroadcastStatus,
  type CheckpointEvent,
  type FencedEvent,
  type PartitionStatus,
  type RestoreEvent,
  type RuntimeErrorEvent,
} from '@fleet/stream-runtime';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the metrics read from the instance (a `StreamInstance` is one). */
export interface StreamMetricsSource {
  status(): PartitionStatus[];
  pendingOutbox(): Promise<Map<number, number>>;
  /** The job's broadcast states (robot metadata); absent or empty: no broadcast series. */
  broadcastStatus?(): BroadcastStatus;
}

export interface StreamMetricsOptions {
  /** The instance id: the registry's default label `stream_instance`. */
  readonly instance: string;
  /** The job's name: events of other jobs in the same process are ignored. */
  readonly job: string;
  readonly source: StreamMetricsSource;
  /** The clock the instance runs on (checkpoint age). Default `Date.now`. */
  readonly now?: () => number;
}

export interface StreamMetrics {
  readonly registry: Registry;
  /** Unsubscribes from the runtime's channels. */
  close(): void;
}

const NO_TIME = Number.MIN_SAFE_INTEGER;
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BYTES_BUCKETS = [0, 1024, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864];

export function createStreamMetrics(options: StreamMetricsOptions): StreamMetrics {
  const { job, source } = options;
  const now = options.now ?? Date.now;
  const registry = new Registry();
  registry.setDefaultLabels({ stream_instance: options.instance });
  collectDefaultMetrics({ register: registry, prefix: 'fleet_stream_process_' });
  const registers = [registry];

  // One status() per scrape: every status-backed metric's collect() shares it.
  let cached: { at: number; status: PartitionStatus[] } | undefined;
  const status = (): PartitionStatus[] => {
    const t = performance.now();
    if (cached === undefined || t - cached.at > 250) cached = { at: t, status: source.status() };
    return cached.status;
  };
  const part = (s: PartitionStatus) => ({ job, partition: String(s.partition) });

  new Gauge({
    name: 'fleet_stream_owned_partitions',
    help: 'Partitions this instance owns',
    labelNames: ['job'] as const,
    registers,
    collect() {
      this.set({ job }, status().length);
    },
  });
  new Gauge({
    name: 'fleet_stream_input_lag_records',
    help: 'Records behind the end of the input topic (end offset - next offset), per owned partition and topic',
    labelNames: ['job', 'partition', 'topic'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status())
        for (const [topic, lag] of Object.entries(s.lagByTopic)) this.set({ ...part(s), topic }, Number(lag));
    },
  });
  new Gauge({
    name: 'fleet_stream_watermark_seconds',
    help: 'Partition watermark (event time, Unix seconds); absent before the first event time',
    labelNames: ['job', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status()) if (s.watermark !== NO_TIME) this.set(part(s), s.watermark / 1000);
    },
  });
  new Gauge({
    name: 'fleet_stream_keys',
    help: 'Keys the partition task tracks',
    labelNames: ['job', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status()) this.set(part(s), s.task.keys);
    },
  });
  new Gauge({
    name: 'fleet_stream_state_memory_bytes',
    help: 'Estimated bytes of keyed state held in memory by the partition task',
    labelNames: ['job', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status()) this.set(part(s), s.task.stateMemoryBytes);
    },
  });
  new Counter({
    name: 'fleet_stream_late_samples_total',
    help:
      'Late samples by reason: within_allowed_lateness (processed, results corrected), ' +
      'beyond_allowed_lateness and invalid_event_time (side output). Restored with the checkpoint.',
    labelNames: ['job', 'partition', 'reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status()) {
        this.inc({ ...part(s), reason: 'within_allowed_lateness' }, s.task.lateWithinLateness);
        for (const [reason, n] of Object.entries(s.task.late)) this.inc({ ...part(s), reason }, n);
      }
    },
  });
  new Gauge({
    name: 'fleet_stream_pending_timers',
    help: 'Timers registered and not fired yet, by time domain (event, processing)',
    labelNames: ['job', 'partition', 'domain'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status()) {
        this.set({ ...part(s), domain: 'event' }, s.task.pendingTimers.event);
        this.set({ ...part(s), domain: 'processing' }, s.task.pendingTimers.processing);
      }
    },
  });
  new Gauge({
    name: 'fleet_stream_checkpoint_age_seconds',
    help: 'Seconds since the last committed checkpoint of the partition (or its restore, before the first)',
    labelNames: ['job', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      const t = now();
      for (const s of status()) this.set(part(s), Math.max(0, t - s.lastCommitAt) / 1000);
    },
  });
  new Gauge({
    name: 'fleet_stream_checkpoint_id',
    help: 'Id of the last committed checkpoint of the partition',
    labelNames: ['job', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status()) this.set(part(s), Number(s.checkpointId));
    },
  });
  new Gauge({
    name: 'fleet_stream_restored_checkpoint_id',
    help: 'Checkpoint id the current ownership of the partition was restored from (0: none)',
    labelNames: ['job', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of status()) this.set(part(s), Number(s.restoredFrom));
    },
  });
  new Gauge({
    name: 'fleet_stream_outbox_pending_rows',
    help: 'Outbox rows committed and not yet published, per owned partition (one query per scrape)',
    labelNames: ['job', 'partition'] as const,
    registers,
    async collect() {
      const pending = await source.pendingOutbox();
      this.reset();
      for (const [partition, n] of pending) this.set({ job, partition: String(partition) }, n);
    },
  });

  const broadcast = (): BroadcastStatus | undefined => source.broadcastStatus?.();
  new Gauge({
    name: 'fleet_stream_broadcast_ready',
    help: 'Whether the start-up read of every broadcast topic to its end is done (keyed partitions wait for it)',
    labelNames: ['job'] as const,
    registers,
    collect() {
      this.reset();
      const b = broadcast();
      if (b !== undefined && Object.keys(b.states).length > 0) this.set({ job }, b.ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fleet_stream_broadcast_entries',
    help: 'Entries held by a broadcast state (e.g. robots with metadata)',
    labelNames: ['job', 'state', 'topic'] as const,
    registers,
    collect() {
      this.reset();
      for (const [state, m] of Object.entries(broadcast()?.states ?? {}))
        this.set({ job, state, topic: m.topic }, m.entries);
    },
  });
  new Counter({
    name: 'fleet_stream_broadcast_records_total',
    help: 'Broadcast records read, by outcome: update (put), delete (tombstone), malformed (skipped, reported)',
    labelNames: ['job', 'state', 'outcome'] as const,
    registers,
    collect() {
      this.reset();
      for (const [state, m] of Object.entries(broadcast()?.states ?? {})) {
        this.inc({ job, state, outcome: 'update' }, m.updates);
        this.inc({ job, state, outcome: 'delete' }, m.deletes);
        this.inc({ job, state, outcome: 'malformed' }, m.malformed);
      }
    },
  });
  new Gauge({
    name: 'fleet_stream_broadcast_lag_records',
    help: 'Records behind the end of a broadcast topic, summed over its partitions',
    labelNames: ['job', 'topic'] as const,
    registers,
    collect() {
      this.reset();
      for (const [topic, lag] of Object.entries(broadcast()?.lag ?? {}))
        this.set({ job, topic }, Number(lag));
    },
  });

  const checkpointSeconds = new Histogram({
    name: 'fleet_stream_checkpoint_duration_seconds',
    help: 'Duration of one partition checkpoint transaction',
    labelNames: ['job'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const checkpointBytes = new Histogram({
    name: 'fleet_stream_checkpoint_bytes',
    help: 'State bytes written by one partition checkpoint (incremental: changes since the last)',
    labelNames: ['job'] as const,
    buckets: BYTES_BUCKETS,
    registers,
  });
  const checkpoints = new Counter({
    name: 'fleet_stream_checkpoints_total',
    help: 'Checkpoints committed, by reason (interval, revoked, close)',
    labelNames: ['job', 'partition', 'reason'] as const,
    registers,
  });
  const fenced = new Counter({
    name: 'fleet_stream_fenced_commits_total',
    help: 'Checkpoint commits refused because a newer owner claimed the partition (the partition is dropped)',
    labelNames: ['job'] as const,
    registers,
  });
  const restoreSeconds = new Histogram({
    name: 'fleet_stream_restore_duration_seconds',
    help: 'Duration of one partition restore (load from PostgreSQL, rebuild the task)',
    labelNames: ['job'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: 'fleet_stream_errors_total',
    help: 'Runtime errors reported, by where (poll, heartbeat, checkpoint, release, outbox, lag, loop)',
    labelNames: ['job', 'where'] as const,
    registers,
  });

  const reasons = new Set<string>();
  const handlers: Record<string, (message: unknown) => void> = {
    [RUNTIME_CHANNELS.checkpoint]: (message) => {
      const e = message as CheckpointEvent;
      if (e.job !== job) return;
      checkpointSeconds.observe({ job }, e.durationMs / 1000);
      checkpointBytes.observe({ job }, e.stateBytes);
      reasons.add(e.reason);
      checkpoints.inc({ job, partition: String(e.partition), reason: e.reason });
    },
    [RUNTIME_CHANNELS.restore]: (message) => {
      const e = message as RestoreEvent;
      if (e.job === job) restoreSeconds.observe({ job }, e.durationMs / 1000);
    },
    [RUNTIME_CHANNELS.fenced]: (message) => {
      const e = message as FencedEvent;
      if (e.job !== job) return;
      fenced.inc({ job });
      // The partition is dropped at once, without an assignment event.
      for (const reason of reasons) checkpoints.remove({ job, partition: String(e.partition), reason });
    },
    [RUNTIME_CHANNELS.assignment]: (message) => {
      const e = message as AssignmentEvent;
      if (e.job !== job) return;
      for (const p of e.revoked)
        for (const reason of reasons) checkpoints.remove({ job, partition: String(p), reason });
    },
    [RUNTIME_CHANNELS.error]: (message) => {
      const e = message as RuntimeErrorEvent;
      // `where` may name a partition ("checkpoint 3"): the label keeps the word only.
      if (e.job === job) errors.inc({ job, where: e.where.split(' ')[0] ?? e.where });
    },
  };
  for (const [name, handler] of Object.entries(handlers)) subscribe(name, handler);

  return {
    registry,
    close() {
      for (const [name, handler] of Object.entries(handlers)) unsubscribe(name, handler);
    },
  };
}
