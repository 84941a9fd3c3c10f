/**
 * One instance of a job: owns some partitions (decided by a {@link Membership}), and for each
 *
 *   claim (epoch + 1) -> restore (state, task state, offsets) -> assign the reader at the stored
 *   offsets (or the beginning) -> loop { poll; job.read + task.process; onProcessingTime every
 *   tickMs; checkpoint every checkpointIntervalMs } -> on revocation or close: final checkpoint,
 *   release.
 *
 * Broadcast topics (the job's `broadcast` states, e.g. robot metadata): the same reader also holds
 * EVERY partition of each, from its beginning. Before the instance joins the membership (so before
 * it claims and processes any keyed partition) it reads them to the end offsets they had when it
 * started, so a restored task sees metadata at least as new as its previous owner did; then it
 * follows them in the same loop, applying a poll's broadcast batches before its keyed ones. Broadcast
 * state is not checkpointed: the compacted topic is its durable form, read again by every instance.
 *
 * Input topics are co-partitioned: partition p of every input topic feeds the task of partition p.
 * A checkpoint is one PostgreSQL transaction per partition guarded by the claim's epoch
 * ({@link PgCheckpointStore.commit}); after commits the outbox publisher sends new outbox rows to
 * the log and marks them published (at least once; ids are deterministic so consumers dedupe).
 *
 * Failure rules: a fenced commit (a newer owner exists) drops the partition at once. Any other
 * failed commit also drops it locally (its changes were taken from the task and are lost with it),
 * and it is claimed and restored again from the last committed checkpoint: replay is idempotent.
 *
 * @example
 *   const instance = new StreamInstance({ job: { job, inputs: ['telemetry'] }, instance: 'stream-0',
 *     log: createKafkaLog({ brokers, clientId: 'stream-0' }), pool, backend: createMemoryBackend() });
 *   const done = instance.run();
 *   process.once('SIGTERM', () => void instance.close());
 *   await done;
 */
import type { Log, LogAdmin, LogProducer, LogReader, RecordBatch, TopicPartitionOffset } from '@fleet/log';
import type { KeyGroupState, StateBackend } from '@fleet/state';
import { broadcastReadyChannel, type BroadcastReadyEvent } from '../broadcast/diagnostics.js';
import { BroadcastStore, type BroadcastChange, type BroadcastMetrics } from '../broadcast/state.js';
import type { DbPool as Pool } from './db-types.js';
import type { Job, TaskRecord } from '../job.js';
import type { EventTimeOptions } from '../time/config.js';
import type { LateOutput, TaskOutput } from '../task/outputs.js';
import { PartitionTask, type Clock, type TaskMetrics } from '../task/partition-task.js';
import { PgCheckpointStore, type Claim, type OutboxMessage } from './checkpoint-store.js';
import {
  assignmentChannel,
  checkpointChannel,
  errorChannel,
  fencedChannel,
  publishedChannel,
  restoreChannel,
  type AssignmentEvent,
  type CheckpointEvent,
  type FencedEvent,
  type PublishedEvent,
  type RestoreEvent,
  type RuntimeErrorEvent,
} from './diagnostics.js';
import { FencedError, RuntimeError } from './errors.js';
import {
  KafkaGroupMembership,
  PgLeaseMembership,
  type Membership,
  type MembershipView,
} from './membership.js';

/** A job as the runtime runs it: the pure job, its input topics and its event-time settings. */
export interface RuntimeJob<E> {
  readonly job: Job<E>;
  /** Co-partitioned input topics (same partition count, same key function). */
  readonly inputs: readonly string[];
  readonly eventTime?: EventTimeOptions;
  /** Messages for other systems: written to the outbox in the checkpoint's transaction. */
  outbox?(output: TaskOutput, partition: number): OutboxMessage | undefined;
  /**
   * The late-data side output's topic (design.md "Event time": a table and a topic). Every late
   * element (`stream_late_data`) is also published there, through the outbox, keyed by its key,
   * with id = the late row's id. Default encoding: {@link encodeLateJson}.
   */
  readonly lateData?: { readonly topic: string; encode?(late: LateOutput): Uint8Array };
}

const lateEncoder = new TextEncoder();

/**
 * A late element as JSON: `{id, reason, key, topic, partition, offset, eventTime, watermark, value}`
 * (offset as a decimal string; `value` is the element as the job decoded it).
 */
export function encodeLateJson(late: LateOutput): Uint8Array {
  return lateEncoder.encode(
    JSON.stringify({ ...late, type: undefined, offset: late.offset.toString() }, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    ),
  );
}

export type MembershipKind = 'kafka-group' | 'lease';

export interface StreamInstanceOptions<E> {
  readonly job: RuntimeJob<E>;
  /** Unique among the job's instances (a restarted process should take a new one). */
  readonly instance: string;
  readonly log: Log;
  readonly pool: Pool;
  readonly backend: StateBackend;
  /**
   * Who owns which partition: `'kafka-group'`, the job's consumer group `fleet-stream.<job>` on the
   * log's coordinator (KIP-848; {@link KafkaGroupMembership}), the default where the log has one
   * (Kafka); `'lease'`, PostgreSQL leases alone ({@link PgLeaseMembership}), the default on the
   * file-backed log; or a {@link Membership} of the caller's.
   */
  readonly membership?: Membership | MembershipKind;
  /** Default 1000 ms. */
  readonly checkpointIntervalMs?: number;
  /** Default 1000 ms. */
  readonly heartbeatMs?: number;
  /** Default 10 000 ms. */
  readonly sessionTimeoutMs?: number;
  /** How often `onProcessingTime` runs. Default 1000 ms. */
  readonly tickMs?: number;
  /** Longest a poll waits. Default 200 ms. */
  readonly pollMaxWaitMs?: number;
  /**
   * How often the input topics' end offsets are fetched for {@link PartitionStatus.lag} (one
   * metadata request per topic), so lag stays true for a partition that stopped delivering
   * batches. Between fetches lag follows each fetched batch's high watermark. Default 5000 ms.
   */
  readonly lagRefreshMs?: number;
  /**
   * Published outbox rows of the owned partitions older than this are deleted (checked once a
   * minute at most). Default 3 600 000 ms (1 h).
   */
  readonly outboxRetentionMs?: number;
  /**
   * A partition's state segments in PostgreSQL are compacted (rewritten as its live entries) after
   * a checkpoint once there are this many rows, or once they hold more than twice the live state's
   * bytes (and 16 MiB). Default 64.
   */
  readonly compactAfterSegments?: number;
  readonly clock?: Clock;
}

interface Owned<E> {
  readonly claim: Claim;
  readonly task: PartitionTask<E>;
  readonly state: KeyGroupState;
  checkpointId: bigint;
  /** The checkpoint id restored from (0: none). */
  readonly restoredFrom: bigint;
  /** Clock time of the last commit by this owner, or of the restore before the first one. */
  lastCommitAt: number;
  /** State segment rows and bytes in PostgreSQL since the last compaction, and the live bytes then. */
  segments: number;
  segmentBytes: number;
  liveBytes: number;
}

/** Compact a partition's state segments once they are this many rows (default)... */
const COMPACT_SEGMENTS = 64;
/** ...or hold this many times the live state's bytes (and at least COMPACT_MIN_BYTES). */
const COMPACT_RATIO = 2;
const COMPACT_MIN_BYTES = 16 * 1024 * 1024;

export interface PartitionStatus {
  readonly partition: number;
  readonly epoch: bigint;
  readonly checkpointId: bigint;
  readonly watermark: number;
  /** Records behind the high watermark, summed over the input topics (as of the last fetch). */
  readonly lag: bigint;
  /** The same per input topic: end offset - next offset. */
  readonly lagByTopic: Readonly<Record<string, bigint>>;
  /** The checkpoint id this ownership was restored from (0: none). */
  readonly restoredFrom: bigint;
  /** Clock time (ms) of the last committed checkpoint, or of the restore before the first one. */
  readonly lastCommitAt: number;
  /** The task's own figures: keys, late samples by reason, pending timers, state bytes. */
  readonly task: TaskMetrics;
}

/** The instance's broadcast states: per state, its figures; per topic, records behind its end. */
export interface BroadcastStatus {
  /** The start-up read to the end offsets is done (keyed partitions are processed only after). */
  readonly ready: boolean;
  readonly states: Readonly<Record<string, BroadcastMetrics>>;
  /** Per broadcast topic, summed over its partitions, as of the last fetched batch of each. */
  readonly lag: Readonly<Record<string, bigint>>;
}

const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class StreamInstance<E> {
  readonly id: string;
  private readonly job: RuntimeJob<E>;
  private readonly store: PgCheckpointStore;
  private readonly clock: Clock;
  private readonly checkpointIntervalMs: number;
  private readonly heartbeatMs: number;
  private readonly sessionTimeoutMs: number;
  private readonly tickMs: number;
  private readonly lagRefreshMs: number;
  private readonly outboxRetentionMs: number;
  private readonly owned = new Map<number, Owned<E>>();
  private readonly lag = new Map<string, bigint>();
  private lastLagRefresh = Number.NEGATIVE_INFINITY;
  private membership: Membership | undefined;
  private view: MembershipView | undefined;
  private viewVersion = 0;
  private rebalancedVersion = -1;
  private lastRebalance = 0;
  private reader: LogReader | undefined;
  private admin: LogAdmin | undefined;
  private producer: LogProducer | undefined;
  private publishing: Promise<void> | undefined;
  private publishAgain = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private running: Promise<void> | undefined;
  private readonly broadcasts: BroadcastStore;
  private readonly broadcastTopics: ReadonlySet<string>;
  private broadcastReady = false;
  /** A non-retriable membership error: the loop stops with it. */
  private membershipFailure: unknown;
  /** `topic\0partition` -> high watermark - next offset, of broadcast partitions. */
  private readonly broadcastLag = new Map<string, bigint>();

  constructor(private readonly options: StreamInstanceOptions<E>) {
    this.id = options.instance;
    this.job = options.job;
    this.store = new PgCheckpointStore(options.pool);
    this.clock = options.clock ?? { now: () => Date.now() };
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 1000;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.tickMs = options.tickMs ?? 1000;
    this.lagRefreshMs = options.lagRefreshMs ?? 5000;
    this.outboxRetentionMs = options.outboxRetentionMs ?? 3_600_000;
    this.broadcasts = new BroadcastStore(this.job.job.broadcast ?? []);
    this.broadcastTopics = new Set(this.broadcasts.topics);
  }

  /** Runs until {@link close}; rejects on an error that is not the partition's to absorb. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Final checkpoints, releases every partition, leaves the membership, closes the clients. */
  async close(): Promise<void> {
    this.closing = true;
    await this.running?.catch(() => undefined);
  }

  /** The partitions owned now, with their epoch, last checkpoint, lag and task figures. */
  status(): PartitionStatus[] {
    return [...this.owned.values()].map((o) => {
      let lag = 0n;
      const lagByTopic: Record<string, bigint> = {};
      for (const topic of this.job.inputs) {
        const l = this.lag.get(`${topic}\u0000${o.claim.partition}`) ?? 0n;
        lagByTopic[topic] = l;
        lag += l;
      }
      return {
        partition: o.claim.partition,
        epoch: o.claim.epoch,
        checkpointId: o.checkpointId,
        watermark: o.task.watermark,
        lag,
        lagByTopic,
        restoredFrom: o.restoredFrom,
        lastCommitAt: o.lastCommitAt,
        task: o.task.metrics(),
      };
    });
  }

  /** The broadcast states held: entries, updates, deletes, malformed records skipped, lag. */
  broadcastStatus(): BroadcastStatus {
    const lag: Record<string, bigint> = {};
    for (const topic of this.broadcastTopics) lag[topic] = 0n;
    for (const [k, l] of this.broadcastLag) {
      const topic = k.slice(0, k.indexOf('\u0000'));
      lag[topic] = (lag[topic] ?? 0n) + l;
    }
    return { ready: this.broadcastReady, states: this.broadcasts.metrics(), lag };
  }

  /** Outbox rows not yet published, per owned partition (one query; owned partitions with none: 0). */
  async pendingOutbox(): Promise<Map<number, number>> {
    const partitions = [...this.owned.keys()];
    const counts = await this.store.countPendingOutbox(this.job.job.name, partitions);
    return new Map(partitions.map((p) => [p, counts.get(p) ?? 0]));
  }

  private async loop(): Promise<void> {
    this.admin = this.options.log.admin();
    try {
      const partitionCount = await this.partitionCount(this.admin);
      this.reader = this.options.log.reader({ maxWaitMs: this.options.pollMaxWaitMs ?? 200 });
      // Before joining: no keyed partition is claimed (and held idle) while this runs.
      await this.readBroadcastToEnd(this.admin, this.reader);
      if (this.closing) return;
      this.membership = this.createMembership(partitionCount);
      await this.beat();
      this.heartbeatTimer = setInterval(() => void this.beat(), this.heartbeatMs);
      let lastTick = this.clock.now();
      let lastCheckpoint = this.clock.now();
      let lastOutboxPrune = this.clock.now();
      while (!this.closing) {
        if (this.membershipFailure !== undefined) {
          throw new RuntimeError(
            'BAD_MEMBERSHIP',
            `the membership refuses this instance: ${(this.membershipFailure as Error).message}`,
            false,
            true,
            { cause: this.membershipFailure },
          );
        }
        await this.rebalance();
        let batches: readonly RecordBatch[] = [];
        try {
          batches = await this.reader.poll();
        } catch (error) {
          if (!isRetriable(error)) throw error;
          this.report('poll', error);
          await sleep(200);
        }
        await this.process(batches);
        const now = this.clock.now();
        if (now - lastTick >= this.tickMs) {
          lastTick = now;
          for (const o of this.owned.values()) o.task.onProcessingTime(now);
        }
        if (now - this.lastLagRefresh >= this.lagRefreshMs && this.owned.size > 0) {
          this.lastLagRefresh = now;
          await this.refreshLag();
        }
        if (now - lastCheckpoint >= this.checkpointIntervalMs) {
          lastCheckpoint = now;
          await this.checkpointAll('interval');
        }
        if (now - lastOutboxPrune >= Math.min(60_000, this.outboxRetentionMs) && this.owned.size > 0) {
          lastOutboxPrune = now;
          await this.pruneOutbox();
        }
      }
      await this.checkpointAll('close');
      for (const o of [...this.owned.values()]) await this.release(o);
      await this.publishing;
    } catch (error) {
      this.report('loop', error);
      throw error;
    } finally {
      if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
      await this.membership?.leave().catch(() => undefined);
      for (const o of [...this.owned.values()]) await this.drop(o).catch(() => undefined);
      await Promise.allSettled([this.reader?.close(), this.producer?.close(), this.admin.close()]);
    }
  }

  /** Lag from the topics' end offsets and the reader's positions (a failure keeps the old figures). */
  private async refreshLag(): Promise<void> {
    try {
      const admin = this.admin as LogAdmin;
      const ends = await Promise.all(this.job.inputs.map((t) => admin.endOffsets(t)));
      const end = new Map(this.job.inputs.map((t, i) => [t, ends[i] ?? []]));
      for (const p of (this.reader as LogReader).position()) {
        if (!this.owned.has(p.partition)) continue;
        const e = end.get(p.topic)?.[p.partition];
        if (e === undefined) continue;
        this.lag.set(`${p.topic}\u0000${p.partition}`, e > p.offset ? e - p.offset : 0n);
      }
    } catch (error) {
      this.report('lag', error);
    }
  }

  /**
   * Assigns the reader to every partition of every broadcast topic at its begin offset and polls
   * until each is at or past the end offset it had now (compaction gaps and transaction markers
   * move the position too). Keyed records cannot arrive: none is assigned yet.
   */
  private async readBroadcastToEnd(admin: LogAdmin, reader: LogReader): Promise<void> {
    const started = performance.now();
    const topics = this.broadcasts.topics;
    const positions: TopicPartitionOffset[] = [];
    const target = new Map<string, bigint>();
    for (const topic of topics) {
      const [begin, end] = await Promise.all([admin.beginOffsets(topic), admin.endOffsets(topic)]);
      end.forEach((e, partition) => {
        const offset = begin[partition] ?? 0n;
        positions.push({ topic, partition, offset });
        if (e > offset) target.set(`${topic}\u0000${partition}`, e);
      });
    }
    reader.assign(positions);
    let records = 0;
    while (!this.closing) {
      for (const p of reader.position()) {
        const end = target.get(`${p.topic}\u0000${p.partition}`);
        if (end !== undefined && p.offset >= end) target.delete(`${p.topic}\u0000${p.partition}`);
      }
      if (target.size === 0) break;
      let batches: readonly RecordBatch[] = [];
      try {
        batches = await reader.poll();
      } catch (error) {
        if (!isRetriable(error)) throw error;
        this.report('broadcast', error);
        await sleep(200);
      }
      for (const batch of batches) records += this.applyBroadcast(batch).length;
    }
    if (this.closing) return;
    this.broadcastReady = true;
    if (topics.length === 0) return;
    const entries: Record<string, number> = {};
    for (const [name, m] of Object.entries(this.broadcasts.metrics())) entries[name] = m.entries;
    const event: BroadcastReadyEvent = {
      job: this.job.job.name,
      instance: this.id,
      records,
      entries,
      durationMs: performance.now() - started,
    };
    broadcastReadyChannel.publish(event);
  }

  /** Applies a batch of a broadcast topic to the shared store; returns what changed. */
  private applyBroadcast(batch: RecordBatch): BroadcastChange[] {
    this.broadcastLag.set(`${batch.topic}\u0000${batch.partition}`, batch.highWatermark - batch.nextOffset);
    const changes: BroadcastChange[] = [];
    for (const r of batch.records) for (const c of this.broadcasts.apply(r)) changes.push(c);
    return changes;
  }

  private createMembership(partitionCount: number): Membership {
    const chosen = this.options.membership;
    if (typeof chosen === 'object') return chosen;
    const name = this.job.job.name;
    const lease = new PgLeaseMembership(this.options.pool, {
      job: name,
      instance: this.id,
      partitionCount,
      sessionTimeoutMs: this.sessionTimeoutMs,
    });
    const groupMember = this.options.log.groupMember;
    const kind = chosen ?? (groupMember === undefined ? 'lease' : 'kafka-group');
    if (kind === 'lease') return lease;
    if (groupMember === undefined) {
      throw new RuntimeError(
        'BAD_MEMBERSHIP',
        "membership 'kafka-group' needs a log with a group coordinator (Kafka); use 'lease'",
        false,
        true,
      );
    }
    return new KafkaGroupMembership(
      lease,
      groupMember({
        groupId: `fleet-stream.${name}`,
        // Co-partitioned inputs: the first one's partition numbers are every input's.
        topic: this.job.inputs[0] as string,
        sessionTimeoutMs: this.sessionTimeoutMs,
        heartbeatIntervalMs: this.heartbeatMs,
      }),
    );
  }

  /** Tells the membership what is held now (a Kafka group hands a revoked partition on after this). */
  private reportOwned(): void {
    this.membership?.owned?.([...this.owned.keys()]);
  }

  private async partitionCount(admin: LogAdmin): Promise<number> {
    const counts = await Promise.all(this.job.inputs.map((t) => admin.partitionCount(t)));
    const first = counts[0];
    if (first === undefined)
      throw new RuntimeError('BAD_TOPICS', 'a job needs at least one input topic', false, true);
    const shared = this.job.inputs.filter((t) => this.broadcastTopics.has(t));
    if (shared.length > 0) {
      throw new RuntimeError(
        'BAD_TOPICS',
        `${shared.join(', ')} cannot be both a keyed input and a broadcast topic`,
        false,
        true,
      );
    }
    if (counts.some((c) => c !== first)) {
      throw new RuntimeError(
        'BAD_TOPICS',
        `input topics ${this.job.inputs.join(', ')} are not co-partitioned (partition counts ${counts.join(', ')})`,
        false,
        true,
      );
    }
    return first;
  }

  private async beat(): Promise<void> {
    try {
      const view = await (this.membership as Membership).heartbeat();
      // Partitions given up because the membership failed are reported, not only given up.
      if (view.problem !== undefined) this.report('heartbeat', view.problem);
      const before = this.view;
      if (
        before === undefined ||
        before.partitions.join() !== view.partitions.join() ||
        before.live.join() !== view.live.join()
      )
        this.viewVersion++;
      this.view = view;
    } catch (error) {
      this.report('heartbeat', error);
      // A membership that can never work (a broker without consumer groups of KIP-848, timeouts
      // outside the brokers' bounds) stops the instance instead of leaving it idle forever.
      if ((error as { retriable?: unknown }).retriable === false) this.membershipFailure ??= error;
    }
  }

  /** Revokes what is no longer ours (final checkpoint, release), claims and restores what is new. */
  private async rebalance(): Promise<void> {
    const view = this.view;
    if (view === undefined || this.closing) return;
    const desired = new Set(view.partitions);
    const missing = view.partitions.filter((p) => !this.owned.has(p));
    const revoked = [...this.owned.keys()].filter((p) => !desired.has(p));
    const now = this.clock.now();
    const retryDue = missing.length > 0 && now - this.lastRebalance >= this.heartbeatMs / 2;
    if (this.rebalancedVersion === this.viewVersion && revoked.length === 0 && !retryDue) return;
    this.rebalancedVersion = this.viewVersion;
    this.lastRebalance = now;

    for (const p of revoked) {
      const o = this.owned.get(p);
      if (o === undefined) continue;
      if (await this.checkpoint(o, 'revoked')) await this.release(o);
    }
    const added: { partition: number; positions: TopicPartitionOffset[] }[] = [];
    for (const p of missing) {
      const claim = await this.store.claim(this.job.job.name, p, this.id, {
        sessionTimeoutMs: this.sessionTimeoutMs,
      });
      if (claim === undefined) continue; // still held by a live owner: it releases on revocation
      added.push({ partition: p, positions: await this.restore(claim) });
    }
    if (revoked.length > 0 || added.length > 0) {
      this.reassign(added.flatMap((a) => a.positions));
      this.reportOwned();
      this.lastLagRefresh = Number.NEGATIVE_INFINITY; // new partitions: their lag at once
      const event: AssignmentEvent = {
        job: this.job.job.name,
        instance: this.id,
        live: view.live,
        owned: [...this.owned.keys()].sort((a, b) => a - b),
        added: added.map((a) => a.partition),
        revoked,
      };
      assignmentChannel.publish(event);
    }
  }

  private async restore(claim: Claim): Promise<TopicPartitionOffset[]> {
    const started = performance.now();
    const { job } = this.job;
    const stored = await this.store.load(job.name, claim.partition);
    // Local state left from an earlier ownership is stale: the checkpoint is the truth.
    await this.options.backend.drop(job.name, claim.partition);
    const state = await this.options.backend.open(job.name, claim.partition);
    const task = new PartitionTask(job, {
      ...this.job.eventTime,
      partition: claim.partition,
      state,
      clock: this.clock,
      broadcast: this.broadcasts,
    });
    if (stored.taskState !== undefined) {
      await task.restore({ entries: stored.entries, taskState: stored.taskState, offsets: stored.offsets });
    }
    const positions: TopicPartitionOffset[] = [];
    for (const topic of this.job.inputs) {
      let offset = stored.offsets[topic];
      if (offset === undefined) {
        const begin = await (this.admin as LogAdmin).beginOffsets(topic);
        offset = begin[claim.partition] ?? 0n;
      }
      positions.push({ topic, partition: claim.partition, offset });
    }
    this.owned.set(claim.partition, {
      claim,
      task,
      state,
      checkpointId: stored.checkpointId,
      restoredFrom: stored.checkpointId,
      lastCommitAt: this.clock.now(),
      segments: stored.segments,
      segmentBytes: stored.segmentBytes,
      liveBytes: stored.liveBytes,
    });
    const durationMs = performance.now() - started;
    await this.store.recordRestore(claim, stored.checkpointId, stored.entries.length, durationMs);
    const event: RestoreEvent = {
      job: job.name,
      partition: claim.partition,
      epoch: claim.epoch,
      checkpointId: stored.checkpointId,
      entries: stored.entries.length,
      offsets: Object.fromEntries(positions.map((p) => [p.topic, p.offset])),
      durationMs,
    };
    restoreChannel.publish(event);
    return positions;
  }

  /**
   * Reader assignment = owned partitions and every broadcast partition: kept ones at their current
   * position, new ones as given.
   */
  private reassign(newPositions: readonly TopicPartitionOffset[]): void {
    const reader = this.reader as LogReader;
    const next = new Map<string, TopicPartitionOffset>();
    for (const p of reader.position())
      if (this.owned.has(p.partition) || this.broadcastTopics.has(p.topic))
        next.set(`${p.topic}\u0000${p.partition}`, p);
    for (const p of newPositions) next.set(`${p.topic}\u0000${p.partition}`, p);
    reader.assign([...next.values()]);
  }

  private async process(batches: readonly RecordBatch[]): Promise<void> {
    // Broadcast batches first: keyed records of this poll see the newest metadata it brought.
    const changes: BroadcastChange[] = [];
    for (const batch of batches) {
      if (!this.broadcastTopics.has(batch.topic)) continue;
      for (const c of this.applyBroadcast(batch)) changes.push(c);
    }
    if (changes.length > 0) await this.notifyBroadcast(changes);
    for (const batch of batches) {
      if (this.broadcastTopics.has(batch.topic)) continue;
      this.lag.set(`${batch.topic}\u0000${batch.partition}`, batch.highWatermark - batch.nextOffset);
      const o = this.owned.get(batch.partition);
      if (o === undefined || batch.records.length === 0) continue;
      const records: TaskRecord[] = batch.records.map((r) => ({
        topic: r.topic,
        offset: r.offset,
        key: r.key === null ? null : decoder.decode(r.key),
        value: r.value,
        timestamp: r.timestamp,
      }));
      const keys = new Set<string>();
      for (const r of records) if (r.key !== null) keys.add(r.key);
      await o.state.prefetch(keys);
      o.task.process(records);
    }
  }

  /** Runs `onBroadcast` in every owned task that has seen a changed key (after prefetching it). */
  private async notifyBroadcast(changes: readonly BroadcastChange[]): Promise<void> {
    for (const o of [...this.owned.values()]) {
      const mine = changes.filter((c) => o.task.keyWatermark(c.key) !== undefined);
      if (mine.length === 0) continue;
      await o.state.prefetch(new Set(mine.map((c) => c.key)));
      if (this.owned.get(o.claim.partition) !== o) continue;
      for (const c of mine) o.task.onBroadcast(c);
    }
  }

  /**
   * Checkpoints every owned partition. The partitions' transactions run concurrently (on the pool's
   * connections): each task's checkpoint is taken at once, and the database writes one partition
   * while this thread encodes the next, so an instance's checkpoint takes about the longer of the
   * two, not their sum.
   */
  private async checkpointAll(reason: string): Promise<void> {
    const committed = await Promise.all(
      [...this.owned.values()]
        .filter((o) => this.owned.get(o.claim.partition) === o)
        .map((o) => this.checkpoint(o, reason)),
    );
    const outbox =
      committed.some(Boolean) && (this.job.outbox !== undefined || this.job.lateData !== undefined);
    if (outbox) this.publish();
  }

  /** Commits one checkpoint; false (and the partition dropped) when it could not. */
  private async checkpoint(o: Owned<E>, reason: string): Promise<boolean> {
    const cp = o.task.checkpoint();
    const outbox: OutboxMessage[] = [];
    const { lateData } = this.job;
    if (this.job.outbox !== undefined || lateData !== undefined) {
      for (const out of cp.outputs) {
        const m = this.job.outbox?.(out, o.claim.partition);
        if (m !== undefined) outbox.push(m);
        if (out.type === 'late' && lateData !== undefined) {
          outbox.push({
            id: out.id,
            topic: lateData.topic,
            key: out.key,
            value: (lateData.encode ?? encodeLateJson)(out),
          });
        }
      }
    }
    const id = o.checkpointId + 1n;
    try {
      const r = await this.store.commit(o.claim, id, cp, outbox);
      o.checkpointId = id;
      o.lastCommitAt = this.clock.now();
      o.segments += r.segments;
      o.segmentBytes += r.segmentBytes;
      let compaction: CheckpointEvent['compaction'];
      if (
        reason === 'interval' &&
        (o.segments >= (this.options.compactAfterSegments ?? COMPACT_SEGMENTS) ||
          o.segmentBytes > Math.max(COMPACT_RATIO * o.liveBytes, COMPACT_MIN_BYTES))
      ) {
        // Fewer, smaller rows for the next restore; a failure leaves the segments as they were.
        try {
          const c = await this.store.compact(o.claim);
          o.segments = c.written;
          o.segmentBytes = c.liveBytes;
          o.liveBytes = c.liveBytes;
          compaction = { replaced: c.replaced, entries: c.entries, durationMs: c.durationMs };
        } catch (error) {
          if (error instanceof FencedError) throw error;
          this.report(`compaction ${o.claim.partition}`, error);
        }
      }
      const event: CheckpointEvent = {
        job: cp.job,
        partition: cp.partition,
        epoch: o.claim.epoch,
        checkpointId: id,
        stateChanges: cp.stateChanges.length,
        stateBytes: r.stateBytes,
        outputs: cp.outputs.length,
        outbox: outbox.length,
        offsets: cp.offsets,
        durationMs: r.durationMs,
        reason,
        segments: o.segments,
        ...(compaction === undefined ? {} : { compaction }),
      };
      checkpointChannel.publish(event);
      return true;
    } catch (error) {
      if (error instanceof FencedError) {
        const event: FencedEvent = {
          job: error.job,
          partition: error.partition,
          epoch: error.epoch,
          owner: error.owner,
        };
        fencedChannel.publish(event);
      } else {
        this.report(`checkpoint ${o.claim.partition}`, error);
      }
      // The task's changes since the last commit are gone with this failed transaction: drop the
      // task; the partition is claimed again and restored from its last committed checkpoint.
      await this.drop(o);
      this.reassign([]);
      this.rebalancedVersion = -1;
      return false;
    }
  }

  private async release(o: Owned<E>): Promise<void> {
    await this.store.release(o.claim).catch((error: unknown) => this.report('release', error));
    await this.drop(o);
  }

  private async drop(o: Owned<E>): Promise<void> {
    if (this.owned.get(o.claim.partition) === o) {
      this.owned.delete(o.claim.partition);
      this.reportOwned();
    }
    for (const topic of this.job.inputs) this.lag.delete(`${topic}\u0000${o.claim.partition}`);
    await o.state.close().catch(() => undefined);
    await this.options.backend.drop(this.job.job.name, o.claim.partition).catch(() => undefined);
  }

  /** Deletes the owned partitions' published outbox rows past the retention (a failure is reported). */
  private async pruneOutbox(): Promise<void> {
    try {
      await this.store.deletePublishedOutbox(
        this.job.job.name,
        [...this.owned.keys()],
        this.outboxRetentionMs,
      );
    } catch (error) {
      this.report('outbox-retention', error);
    }
  }

  /** Publishes pending outbox rows of the owned partitions (single flight; at least once). */
  private publish(): void {
    if (this.publishing !== undefined) {
      this.publishAgain = true;
      return;
    }
    this.publishing = (async () => {
      try {
        do {
          this.publishAgain = false;
          for (;;) {
            const rows = await this.store.pendingOutbox(this.job.job.name, [...this.owned.keys()], 500);
            if (rows.length === 0) break;
            this.producer ??= this.options.log.producer();
            await this.producer.send(
              rows.map((r) => ({
                topic: r.topic,
                key: r.key,
                value: r.value,
                headers: { 'fleet-outbox-id': r.id },
              })),
            );
            await this.store.markPublished(rows.map((r) => r.id));
            const event: PublishedEvent = { job: this.job.job.name, rows: rows.length };
            publishedChannel.publish(event);
          }
        } while (this.publishAgain && !this.closing);
      } catch (error) {
        this.report('outbox', error);
      } finally {
        this.publishing = undefined;
      }
    })();
  }

  private report(where: string, error: unknown): void {
    const event: RuntimeErrorEvent = { job: this.job.job.name, where, error };
    errorChannel.publish(event);
  }
}

function isRetriable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}
