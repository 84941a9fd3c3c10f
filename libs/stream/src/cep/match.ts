/**
 * What a step of the NFA emits: complete matches and expired partial matches, both grouped by stage
 * name and carrying a deterministic id, so a replay after restore produces the same output rows.
 */
import { fnv1a } from './compile.js';
import type { Nfa } from './compile.js';

/**
 * One event held by a partial match: `[stage index, event time, ordinal, event]`. The ordinal
 * numbers the captured events that share one event time (0 for the first), so `(time, ordinal)` is a
 * total order of the key's captured events and a position when the user gives none.
 */
export type Captured<E> = readonly [stage: number, time: number, ordinal: number, event: E];

export interface Match<E> {
  /**
   * `${first}~${last}~${hash}`: the positions of the first and last events and an 8-hex-digit
   * FNV-1a hash of every (stage, position) pair, which tells apart matches sharing both ends (as
   * relaxed loops produce). Prefix it with the key (and job) for a globally unique output id.
   */
  readonly id: string;
  /** Events per taking stage, in pattern order; a skipped optional stage has an empty list. */
  readonly events: Readonly<Record<string, readonly E[]>>;
  /** Position of the first and last event (see `CompileOptions.position`). */
  readonly first: string;
  readonly last: string;
  /** Event time of the first and last event. */
  readonly startTime: number;
  readonly endTime: number;
}

/** A partial match discarded because it outlived `within` (or the compile-time ttl). */
export interface PartialMatch<E> extends Match<E> {
  readonly reason: 'within' | 'ttl';
  /** The event time or watermark at which it expired. */
  readonly expiredAt: number;
}

export function positionOf<E>(nfa: Nfa<E>, c: Captured<E>): string {
  if (nfa.position !== undefined) return String(nfa.position(c[3]));
  return c[2] === 0 ? String(c[1]) : `${c[1]}+${c[2]}`;
}

export function buildMatch<E>(nfa: Nfa<E>, ev: readonly Captured<E>[]): Match<E> {
  const events: Record<string, E[]> = {};
  const names = nfa.stageNames;
  for (let i = 0; i < names.length; i++) events[names[i] as string] = [];
  let h = 0x811c9dc5;
  let first = '';
  let last = '';
  for (let i = 0; i < ev.length; i++) {
    const c = ev[i] as Captured<E>;
    (events[names[c[0]] as string] as E[]).push(c[3]);
    const pos = positionOf(nfa, c);
    h = fnv1a(`${c[0]}@${pos};`, h);
    if (i === 0) first = pos;
    last = pos;
  }
  const head = ev[0] as Captured<E>;
  const tail = ev[ev.length - 1] as Captured<E>;
  return {
    id: `${first}~${last}~${h.toString(16).padStart(8, '0')}`,
    events,
    first,
    last,
    startTime: head[1],
    endTime: tail[1],
  };
}

export function buildPartial<E>(nfa: Nfa<E>, ev: readonly Captured<E>[], expiredAt: number): PartialMatch<E> {
  return { ...buildMatch(nfa, ev), reason: nfa.expiryReason, expiredAt };
}
