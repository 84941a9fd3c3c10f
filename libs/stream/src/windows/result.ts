/**
 * Window results as operators emit them (the `value` of an EmitOutput). The output id is
 * `<job>/<operator>/<key>/<anchor>` where anchor is the window start at its first emission, so all
 * revisions of one window upsert ONE row; `revision` increases by 1 with every emission of the window.
 *
 * kind (README, "Result kinds"):
 * - 'provisional': the watermark passed the window end and allowed lateness is > 0 (may change);
 * - 'final': the window can no longer change: emitted when the watermark passes end + allowed
 *   lateness (then the state is cleared), or at the end already when allowed lateness is 0;
 * - 'corrected': a late element (within allowed lateness) changed a window whose end had passed;
 *   emitted at once, with the new value;
 * - 'retracted': (session windows) a late element merged this session into another one whose row
 *   carries the merged result; this row's result is void.
 */
export type ResultKind = 'provisional' | 'final' | 'corrected' | 'retracted';

export interface WindowResult<OUT> {
  readonly key: string;
  /** Inclusive start, event time ms. */
  readonly start: number;
  /** Exclusive end, event time ms. */
  readonly end: number;
  readonly kind: ResultKind;
  readonly revision: number;
  readonly value: OUT;
}
