/**
 * What a partition task hands to the sink at a checkpoint. Every output has a DETERMINISTIC id: a
 * replay of the same records from the same checkpoint produces the same ids with the same values,
 * so the sink's upsert (by id, keeping the highest `revision` for window results) rewrites rows
 * instead of duplicating them.
 */

/** A result of an operator (`ctx.emit`). Window results are emits whose value is a WindowResult. */
export interface EmitOutput {
  readonly type: 'emit';
  /** `<job>/<operator>/<key>/<suffix>`. */
  readonly id: string;
  readonly operator: string;
  readonly key: string;
  /** Event time of the element, or the timer's timestamp, that produced it. */
  readonly timestamp: number;
  readonly value: unknown;
}

/** A value sent to a named side output (`ctx.sideOutput`). */
export interface SideOutput {
  readonly type: 'side';
  /** `<job>/<operator>/<tag>/<key>/<suffix>`. */
  readonly id: string;
  readonly operator: string;
  readonly tag: string;
  readonly key: string;
  readonly timestamp: number;
  readonly value: unknown;
}

export type LateReason = 'beyond_allowed_lateness' | 'invalid_event_time';

/** An element the task did not process: for the late-data table and topic. */
export interface LateOutput {
  readonly type: 'late';
  /** `<job>/late/<topic>/<partition>/<offset>/<n>`: n counts elements within the record. */
  readonly id: string;
  readonly reason: LateReason;
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly eventTime: number;
  /** The key's watermark when the element arrived. */
  readonly watermark: number;
  readonly value: unknown;
}

export type TaskOutput = EmitOutput | SideOutput | LateOutput;
