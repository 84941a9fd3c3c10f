/**
 * What the runtime reports, on `node:diagnostics_channel` (no logger in libraries): apps turn these
 * into log lines and metrics.
 */
import { channel } from 'node:diagnostics_channel';

export const RUNTIME_CHANNELS = {
  checkpoint: 'fleet:stream:checkpoint',
  restore: 'fleet:stream:restore',
  fenced: 'fleet:stream:fenced',
  assignment: 'fleet:stream:assignment',
  published: 'fleet:stream:outbox-published',
  error: 'fleet:stream:error',
} as const;

export interface CheckpointEvent {
  readonly job: string;
  readonly partition: number;
  readonly epoch: bigint;
  readonly checkpointId: bigint;
  readonly stateChanges: number;
  readonly stateBytes: number;
  readonly outputs: number;
  readonly outbox: number;
  readonly offsets: Readonly<Record<string, bigint>>;
  readonly durationMs: number;
  /** Why: 'interval', 'revoked' or 'close'. */
  readonly reason: string;
  /** State segment rows of the partition in PostgreSQL after this checkpoint (and any compaction). */
  readonly segments: number;
  /** Present when the partition's segments were compacted right after this checkpoint. */
  readonly compaction?: { readonly replaced: number; readonly entries: number; readonly durationMs: number };
}

export interface RestoreEvent {
  readonly job: string;
  readonly partition: number;
  readonly epoch: bigint;
  /** 0 when the partition had no checkpoint yet. */
  readonly checkpointId: bigint;
  readonly entries: number;
  readonly offsets: Readonly<Record<string, bigint>>;
  readonly durationMs: number;
}

export interface FencedEvent {
  readonly job: string;
  readonly partition: number;
  readonly epoch: bigint;
  readonly owner: string;
}

export interface AssignmentEvent {
  readonly job: string;
  readonly instance: string;
  readonly live: readonly string[];
  readonly owned: readonly number[];
  readonly added: readonly number[];
  readonly revoked: readonly number[];
}

export interface PublishedEvent {
  readonly job: string;
  readonly rows: number;
}

export interface RuntimeErrorEvent {
  readonly job: string;
  readonly where: string;
  readonly error: unknown;
}

export const checkpointChannel = channel(RUNTIME_CHANNELS.checkpoint);
export const restoreChannel = channel(RUNTIME_CHANNELS.restore);
export const fencedChannel = channel(RUNTIME_CHANNELS.fenced);
export const assignmentChannel = channel(RUNTIME_CHANNELS.assignment);
export const publishedChannel = channel(RUNTIME_CHANNELS.published);
export const errorChannel = channel(RUNTIME_CHANNELS.error);
