/**
 * What a job is to the runtime: how records of its input topics become keyed, timestamped elements
 * (timestamp extraction belongs to the job), and the operators those elements go through.
 */
import type { BroadcastDescriptor } from './broadcast/state.js';
import type { Operator } from './operators/api.js';

/** One source record as the partition task receives it (the runtime decodes nothing itself). */
export interface TaskRecord<V = unknown> {
  readonly topic: string;
  /** Offset in its topic-partition; the checkpoint stores `offset + 1` of the last one processed. */
  readonly offset: bigint;
  /** The record key (robot id), or null. */
  readonly key: string | null;
  readonly value: V;
  /** The log's timestamp (CreateTime), ms. Not event time: the job extracts that from the value. */
  readonly timestamp: number;
}

/** Where `Job.read` puts what it found in a record. */
export interface InputSink<E> {
  /** A keyed element with its event time (integer ms). A record may hold many (a telemetry batch). */
  element(key: string, eventTime: number, value: E): void;
  /** The key's presence changed (e.g. a `presence` message): offline keys do not hold others back. */
  presence(key: string, online: boolean): void;
}

export interface Job<E> {
  /** `[a-z][a-z0-9_]*`; first part of every output id and of the state's partition id. */
  readonly name: string;
  /** Decodes one record; must be deterministic (a replay must read the same elements). */
  read(record: TaskRecord, out: InputSink<E>): void;
  readonly operators: readonly Operator<E, unknown>[];
  /**
   * Broadcast states (compacted topics, e.g. robot metadata) every operator reads through
   * `ctx.broadcast(descriptor)`; not checkpointed (see ./broadcast/state.ts).
   */
  readonly broadcast?: readonly BroadcastDescriptor<unknown>[];
}

/** Declares a job (identity function that fixes the element type for inference). */
export function defineJob<E>(job: {
  name: string;
  read(record: TaskRecord, out: InputSink<E>): void;
  operators: readonly Operator<E, unknown>[];
  broadcast?: readonly BroadcastDescriptor<unknown>[];
}): Job<E> {
  return job as Job<E>;
}
