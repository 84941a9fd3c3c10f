/**
 * A test driver for jobs: simulated processing time, the real PartitionTask and the in-memory state
 * backend, so a job test reads like the sentence it checks and runs the code path of production.
 *
 * @example
 * const t = await driver(statusJob, { outOfOrdernessMs: 2000, allowedLatenessMs: 30_000 });
 * t.send('r-1', sample(at('10:00:05')));
 * t.send('r-1', sample(at('10:01:03')));          // the key's watermark passes 10:01:00
 * expect(t.results('status_1m')).toMatchObject([{ key: 'r-1', kind: 'provisional', revision: 0 }]);
 * t.advanceProcessingTime('2m');                  // idle partition: the watermark follows the clock
 * await t.checkpointAndRestore();                 // state, timers and watermarks survive
 *
 * // Broadcast state: a record of the job's compacted topic, applied at a simulated time.
 * t.broadcast(robotMeta, 'r-1', '{"zone":"A"}', { at: '10:05' });   // given r-1 is in zone A
 * t.broadcast(robotMeta, 'r-1', null);                              // tombstone: r-1 is gone
 */
import { createMemoryBackend, type StateChange } from '@fleet/state';
import {
  BroadcastStore,
  type BroadcastChange,
  type BroadcastDescriptor,
  type BroadcastMetrics,
} from '../broadcast/state.js';
import type { Job, TaskRecord } from '../job.js';
import type { EventTimeOptions } from '../time/config.js';
import { PartitionTask, type TaskCheckpoint, type TaskMetrics } from '../task/partition-task.js';
import type { EmitOutput, LateOutput, SideOutput, TaskOutput } from '../task/outputs.js';
import type { WindowResult } from '../windows/result.js';
import { at, duration } from './time.js';

export interface DriverOptions extends EventTimeOptions {
  readonly partition?: number;
  /** Initial processing time: ms, or a string for `at()`. Default `at('10:00')`. */
  readonly startAt?: number | string;
  /**
   * `advanceProcessingTime` calls `onProcessingTime` every tickMs (as the runtime's periodic call
   * would) rather than once at the end. Default 1000.
   */
  readonly tickMs?: number;
  /** Topic of `send()` without a topic. Default 'telemetry'. */
  readonly topic?: string;
}

export interface SendOptions {
  readonly topic?: string;
}

export interface BroadcastOptions {
  /**
   * Processing time of the update: the clock first advances to it (ms, or a string for `at()`),
   * ticking as `advanceProcessingTime` does. Never backwards. Default: now.
   */
  readonly at?: number | string;
}

const utf8 = new TextEncoder();

export class JobDriver<E> {
  private clockNow: number;
  private readonly clock = { now: () => this.clockNow };
  private readonly nextOffset = new Map<string, bigint>();
  /** Outputs handed over by checkpoints (as the sink would have committed them). */
  private readonly committed: TaskOutput[] = [];
  /** The merged state of all checkpoints, as PostgreSQL would hold it. */
  private readonly store = new Map<string, StateChange>();
  private readonly tickMs: number;
  private readonly topic: string;
  /** The job's broadcast states: the driver plays the instance that follows the topics. */
  private readonly broadcasts: BroadcastStore;
  private readonly broadcastOffsets = new Map<string, bigint>();

  private constructor(
    private readonly job: Job<E>,
    private readonly options: DriverOptions,
    private taskInstance: PartitionTask<E>,
    now: number,
  ) {
    this.clockNow = now;
    this.tickMs = options.tickMs ?? 1000;
    this.topic = options.topic ?? 'telemetry';
    this.broadcasts = new BroadcastStore(job.broadcast ?? []);
  }

  static async create<E>(job: Job<E>, options: DriverOptions = {}): Promise<JobDriver<E>> {
    const start =
      options.startAt === undefined
        ? at('10:00')
        : typeof options.startAt === 'number'
          ? options.startAt
          : at(options.startAt);
    const d = new JobDriver(job, options, undefined as unknown as PartitionTask<E>, start);
    d.taskInstance = await d.freshTask();
    return d;
  }

  /** The task under test (for metrics or direct calls). */
  get task(): PartitionTask<E> {
    return this.taskInstance;
  }

  /** Processing time now. */
  get now(): number {
    return this.clockNow;
  }

  /** Partition watermark. */
  get watermark(): number {
    return this.taskInstance.watermark;
  }

  /** Sends one record with `value` under `key` (one `process` call, as a batch of one). */
  send(key: string, value: unknown, options: SendOptions = {}): this {
    this.taskInstance.process([this.record(key, value, options.topic ?? this.topic)]);
    return this;
  }

  /** Sends records as ONE batch (one `process` call: the partition watermark moves at its end). */
  sendBatch(records: readonly { key: string; value: unknown; topic?: string }[]): this {
    this.taskInstance.process(records.map((r) => this.record(r.key, r.value, r.topic ?? this.topic)));
    return this;
  }

  /** Presence: the robot's connection dropped (as a last will would say). */
  offline(key: string): this {
    this.taskInstance.markOffline(key);
    return this;
  }

  online(key: string): this {
    this.taskInstance.markOnline(key);
    return this;
  }

  /**
   * Publishes one record to a broadcast state's compacted topic, as the runtime would read it: the
   * descriptor decodes `value` (a string is sent as its UTF-8 bytes; null is a tombstone), the
   * shared state changes, then the operators' `onBroadcast` runs for a key the task has seen.
   * A record the decoder rejects is counted (`broadcastMetrics()`) and skipped.
   */
  broadcast<V>(
    descriptor: BroadcastDescriptor<V>,
    key: string,
    value: Uint8Array | string | null,
    options: BroadcastOptions = {},
  ): this {
    if (options.at !== undefined) {
      const t = typeof options.at === 'number' ? options.at : at(options.at);
      if (t < this.clockNow) throw new RangeError(`broadcast at ${t} is before now (${this.clockNow})`);
      this.advanceProcessingTime(t - this.clockNow);
    }
    this.broadcasts.view(descriptor); // BAD_CONFIG for a state the job does not declare
    const offset = this.broadcastOffsets.get(descriptor.topic) ?? 0n;
    this.broadcastOffsets.set(descriptor.topic, offset + 1n);
    const changes: BroadcastChange[] = this.broadcasts.apply({
      topic: descriptor.topic,
      partition: 0,
      offset,
      key: utf8.encode(key),
      value: typeof value === 'string' ? utf8.encode(value) : value,
      timestamp: this.clockNow,
    });
    for (const change of changes) this.taskInstance.onBroadcast(change);
    return this;
  }

  /** Per broadcast state: entries held, updates, deletes and malformed (skipped) records. */
  broadcastMetrics(): Record<string, BroadcastMetrics> {
    return this.broadcasts.metrics();
  }

  /** Moves the processing clock forward, calling `onProcessingTime` every tickMs and at the end. */
  advanceProcessingTime(by: string | number): this {
    const target = this.clockNow + duration(by);
    while (this.clockNow < target) {
      this.clockNow = Math.min(target, this.clockNow + this.tickMs);
      this.taskInstance.onProcessingTime(this.clockNow);
    }
    return this;
  }

  /** Every output so far (committed by checkpoints, then pending), in emission order. */
  outputs(): TaskOutput[] {
    return [...this.committed, ...this.pendingOutputs()];
  }

  /** Values emitted by `operator` (or by all operators), in emission order. */
  emitted<O = unknown>(operator?: string): O[] {
    return this.outputs()
      .filter(
        (o): o is EmitOutput => o.type === 'emit' && (operator === undefined || o.operator === operator),
      )
      .map((o) => o.value as O);
  }

  /** Window results of a window operator, in emission order. */
  results<OUT = unknown>(operator?: string): WindowResult<OUT>[] {
    return this.emitted<WindowResult<OUT>>(operator);
  }

  /** Late-data side output. */
  late(): LateOutput[] {
    return this.outputs().filter((o): o is LateOutput => o.type === 'late');
  }

  sideOutputs(tag?: string): SideOutput[] {
    return this.outputs().filter(
      (o): o is SideOutput => o.type === 'side' && (tag === undefined || o.tag === tag),
    );
  }

  metrics(): TaskMetrics {
    return this.taskInstance.metrics();
  }

  /** Takes a checkpoint as the runtime would and keeps what it would have committed. */
  checkpoint(): TaskCheckpoint {
    const cp = this.taskInstance.checkpoint();
    this.committed.push(...cp.outputs);
    for (const c of cp.stateChanges) {
      const id = `${c.name}\u0000${c.key}\u0000${c.userKey}`;
      if (c.value === null) this.store.delete(id);
      else this.store.set(id, c);
    }
    return cp;
  }

  /**
   * Checkpoints, then restores into a FRESH task on a fresh backend from the committed state only
   * (as a new owner after failover would), and carries on with it.
   */
  async checkpointAndRestore(): Promise<TaskCheckpoint> {
    const cp = this.checkpoint();
    const fresh = await this.freshTask();
    await fresh.restore({ entries: [...this.store.values()], taskState: cp.taskState, offsets: cp.offsets });
    this.taskInstance = fresh;
    return cp;
  }

  private pendingOutputs(): readonly TaskOutput[] {
    return this.taskInstance.pendingOutputs();
  }

  private async freshTask(): Promise<PartitionTask<E>> {
    const partition = this.options.partition ?? 0;
    const state = await createMemoryBackend().open(this.job.name, partition);
    // Broadcast state is not checkpointed: a restored task shares the driver's, as a new owner
    // would share its instance's (rebuilt from the compacted topic).
    return new PartitionTask(this.job, {
      ...this.options,
      partition,
      state,
      clock: this.clock,
      broadcast: this.broadcasts,
    });
  }

  private record(key: string, value: unknown, topic: string): TaskRecord {
    const offset = this.nextOffset.get(topic) ?? 0n;
    this.nextOffset.set(topic, offset + 1n);
    return { topic, offset, key, value, timestamp: this.clockNow };
  }
}

/** Creates a driver for `job` (async: it opens the memory backend). */
export function driver<E>(job: Job<E>, options: DriverOptions = {}): Promise<JobDriver<E>> {
  return JobDriver.create(job, options);
}
