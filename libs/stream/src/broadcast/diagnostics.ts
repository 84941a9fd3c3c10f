/**
 * What broadcast state reports, on `node:diagnostics_channel` (no logger in libraries), next to the
 * runtime's channels (../runtime/diagnostics.ts).
 */
import { channel } from 'node:diagnostics_channel';

export const BROADCAST_CHANNELS = {
  /** A broadcast record that could not be applied: counted in `malformed`, skipped. */
  skipped: 'fleet:stream:broadcast-skipped',
  /** An instance has read every broadcast topic to the end offsets it saw at start-up. */
  ready: 'fleet:stream:broadcast-ready',
} as const;

export type BroadcastSkipReason = 'no_key' | 'bad_key' | 'bad_value';

export interface BroadcastSkippedEvent {
  /** The broadcast state's name. */
  readonly name: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly reason: BroadcastSkipReason;
  /** What the decoder threw (absent for `no_key`). */
  readonly error?: unknown;
}

export interface BroadcastReadyEvent {
  readonly job: string;
  readonly instance: string;
  /** Records read (all broadcast topics). */
  readonly records: number;
  /** Entries held afterwards, per broadcast state name. */
  readonly entries: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

export const broadcastSkippedChannel = channel(BROADCAST_CHANNELS.skipped);
export const broadcastReadyChannel = channel(BROADCAST_CHANNELS.ready);
