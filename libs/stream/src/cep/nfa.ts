/**
 * Running a compiled NFA for one key. The run state is a plain JSON value that the runtime keeps in
 * keyed state and checkpoints; every function here is pure: it never mutates the state it is given
 * and returns the very same object when nothing changed (so the runtime can skip the write).
 *
 * Invariants of `CepState.r` (the partial matches, "runs"):
 *  - sorted by the (time, ordinal) of their first event, oldest first. New runs branch from an
 *    existing run (same first event, placed right after it) or start at the current event (appended),
 *    so the order holds without sorting; expiry therefore always removes a prefix.
 *  - every run's first event is less than `nfa.horizon` ms older than the last event time or
 *    watermark seen (runs past it are expired before anything else happens);
 *  - at most `nfa.maxPartialMatches` runs (the oldest are dropped beyond, counted in `dropped`);
 *  - every run has at least one open edge (`m !== 0`): a run that can never take another event nor
 *    complete is discarded at once.
 */
import { LOOP, RELAXED, STRICT } from './compile.js';
import type { Nfa, NfaEdge, NfaStage } from './compile.js';
import { buildMatch, buildPartial } from './match.js';
import type { Captured, Match, PartialMatch } from './match.js';

/** One partial match. Field names are short because 100k keys of them are checkpointed. */
export interface Run<E> {
  /** Stage index of the last taken event. */
  readonly s: number;
  /** Number of events taken in stage `s` so far. */
  readonly c: number;
  /** Open edges of stage `s`: bit i stands for `nfa.stages[s].edges[i]`. */
  readonly m: number;
  /** 1 once an event has passed since the last taken one (notNext guards look only at the first). */
  readonly g: 0 | 1;
  /** Taken events, oldest first. */
  readonly ev: readonly Captured<E>[];
}

/**
 * The run state of one key: JSON-compatible as long as the events are (no classes, no closures).
 * Treat it as opaque; `stateSize` and `isIdle` read it for you.
 */
export interface CepState<E> {
  /** Partial matches, oldest first. */
  readonly r: readonly Run<E>[];
  /** Event time and ordinal of the last event any run took (the ordinal of the next one). */
  readonly t: number;
  readonly o: number;
}

export interface CepResult<E> {
  /** The new state; the same object as the input when nothing changed. */
  readonly state: CepState<E>;
  /** Completed matches, in the order the NFA found them. */
  readonly matches: readonly Match<E>[];
  /** Partial matches that expired (within / ttl) without completing. */
  readonly timedOut: readonly PartialMatch<E>[];
  /** Partial matches dropped in this step because the key held more than `maxPartialMatches`. */
  readonly dropped: number;
}

const NO_RUNS: readonly never[] = Object.freeze([]);
const NO_MATCHES: readonly never[] = Object.freeze([]);
const INITIAL: CepState<never> = Object.freeze({ r: NO_RUNS, t: 0, o: -1 });

/** The state of a key that has seen nothing. Shared and frozen; never mutated. */
export function initialState<E>(): CepState<E> {
  return INITIAL;
}

/** True when the key holds no partial match: the runtime may delete its state entry. */
export function isIdle<E>(state: CepState<E>): boolean {
  return state.r.length === 0;
}

/** Size of a key's state: partial matches, events they hold, and the length of its JSON (≈ bytes). */
export function stateSize<E>(state: CepState<E>): {
  partialMatches: number;
  capturedEvents: number;
  approxBytes: number;
} {
  let capturedEvents = 0;
  for (const run of state.r) capturedEvents += run.ev.length;
  return { partialMatches: state.r.length, capturedEvents, approxBytes: JSON.stringify(state).length };
}

/**
 * The earliest event time at which `advanceTime` would change this state (a partial match expires
 * or a pending notFollowedBy match completes), or undefined if none. The runtime registers an
 * event-time timer for it instead of calling advanceTime on every key at every watermark.
 */
export function nextTimer<E>(nfa: Nfa<E>, state: CepState<E>): number | undefined {
  const first = state.r[0];
  if (first === undefined || nfa.horizon === Infinity) return undefined;
  return (first.ev[0] as Captured<E>)[1] + nfa.horizon;
}

/**
 * Feeds one event of the key. Events must come in non-decreasing event time (the runtime sorts them
 * by watermark); equal times are fine. Partial matches whose window has passed at `eventTime` are
 * expired first, then the event is offered to every partial match and may start new ones.
 */
export function advance<E>(nfa: Nfa<E>, state: CepState<E>, event: E, eventTime: number): CepResult<E> {
  if (state.r.length === 0) {
    // Hot path: a key with nothing in flight, and an event that cannot start a match.
    const starts = nfa.starts;
    let starting = false;
    for (let i = 0; i < starts.length; i++) {
      if ((nfa.stages[starts[i] as number] as NfaStage<E>).take(event)) {
        starting = true;
        break;
      }
    }
    if (!starting) return { state, matches: NO_MATCHES, timedOut: NO_MATCHES, dropped: 0 };
  }
  return new Step(nfa, state).event(event, eventTime);
}

/**
 * Tells the key that event time has reached `watermark`: no event earlier than it will come.
 * Expires partial matches whose window has passed (reported in `timedOut`) and completes the
 * pending matches of patterns ending in notFollowedBy().within() (reported in `matches`).
 */
export function advanceTime<E>(nfa: Nfa<E>, state: CepState<E>, watermark: number): CepResult<E> {
  const first = state.r[0];
  if (first === undefined || watermark - (first.ev[0] as Captured<E>)[1] < nfa.horizon) {
    return { state, matches: NO_MATCHES, timedOut: NO_MATCHES, dropped: 0 };
  }
  return new Step(nfa, state).time(watermark);
}

/** Prune rule modes: a run is discarded if its first event is ==, <= or < the rule's position. */
const EQ = 0;
const LE = 1;
const LT = 2;

/** The work of one advance / advanceTime call on the slow path. */
class Step<E> {
  private matches: Match<E>[] | null = null;
  private timedOut: PartialMatch<E>[] | null = null;
  /** Flattened [time, ordinal, mode] triples from the matches emitted so far in this step. */
  private rules: number[] | null = null;

  constructor(
    private readonly nfa: Nfa<E>,
    private readonly state: CepState<E>,
  ) {}

  time(watermark: number): CepResult<E> {
    const runs = this.state.r;
    const expired = this.expire(runs, watermark);
    let out = runs.slice(expired);
    out = this.applyRules(out);
    return this.result({ r: out, t: this.state.t, o: this.state.o }, 0);
  }

  event(event: E, t: number): CepResult<E> {
    const nfa = this.nfa;
    const stages = nfa.stages;
    const runs = this.state.r;
    const expired = this.expire(runs, t);
    // `out` stays null while every run so far is kept unchanged: then nothing is allocated.
    let out: Run<E>[] | null = expired > 0 ? [] : null;
    let ordinal = -1;

    for (let i = expired; i < runs.length; i++) {
      const run = runs[i] as Run<E>;
      if (this.rules !== null && this.pruned(run.ev[0] as Captured<E>)) {
        out ??= runs.slice(expired, i) as Run<E>[];
        continue;
      }
      const stage = stages[run.s] as NfaStage<E>;
      const edges = stage.edges;
      const m = run.m;
      let keep = m;
      let hits = 0;
      for (let b = 0; b < edges.length; b++) {
        const bit = 1 << b;
        if ((m & bit) === 0) continue;
        const edge = edges[b] as NfaEdge<E>;
        if (edge.take !== null) {
          const hit = edge.take(event);
          if (hit) hits |= bit;
          // The run that passes over this event: a strict edge needs the event to be taken; a
          // relaxed one may only skip events its stage would not take.
          if (edge.contiguity === STRICT || (hit && edge.contiguity === RELAXED)) {
            keep &= ~bit;
            continue;
          }
        }
        if (run.g === 0 && edge.guardNext !== null && edge.guardNext(event)) {
          keep &= ~bit;
          continue;
        }
        if (edge.guardUntil !== null && edge.guardUntil(event)) keep &= ~bit;
      }

      if (hits === 0 && keep === m && (run.g === 1 || !stage.gapSensitive)) {
        if (out !== null) out.push(run);
        continue;
      }
      out ??= runs.slice(expired, i) as Run<E>[];
      // The runs that take the event, one per edge whose stage condition held; they come before the
      // run that passes over it, so for one first event the longer partial match is offered first.
      if (hits !== 0) {
        if (ordinal < 0) ordinal = t === this.state.t ? this.state.o + 1 : 0;
        for (let b = 0; b < edges.length; b++) {
          if ((hits & (1 << b)) === 0) continue;
          const edge = edges[b] as NfaEdge<E>;
          const count = edge.kind === LOOP ? run.c + 1 : 1;
          const ev = run.ev.slice() as Captured<E>[];
          ev.push([edge.target, t, ordinal, event]);
          this.took(out, edge.target, count, ev);
        }
      }
      // The run that passes over the event, if it has an edge left.
      if (keep === m && (run.g === 1 || !stage.gapSensitive)) out.push(run);
      else if (keep !== 0) out.push({ s: run.s, c: run.c, m: keep, g: 1, ev: run.ev });
    }

    // New runs starting at this event.
    const starts = nfa.starts;
    for (let i = 0; i < starts.length; i++) {
      const k = starts[i] as number;
      if (!(stages[k] as NfaStage<E>).take(event)) continue;
      out ??= runs.slice(expired) as Run<E>[];
      if (ordinal < 0) ordinal = t === this.state.t ? this.state.o + 1 : 0;
      this.took(out, k, 1, [[k, t, ordinal, event]]);
    }

    if (out === null) return this.result(this.state, 0);
    out = this.applyRules(out);
    let dropped = 0;
    if (out.length > nfa.maxPartialMatches) {
      dropped = out.length - nfa.maxPartialMatches;
      out = out.slice(dropped);
    }
    const next: CepState<E> =
      ordinal < 0 ? { r: out, t: this.state.t, o: this.state.o } : { r: out, t, o: ordinal };
    return this.result(next, dropped);
  }

  /** A run has just taken an event into stage `k` (its `count`-th there): emit and/or keep it. */
  private took(out: Run<E>[], k: number, count: number, ev: Captured<E>[]): void {
    const stage = this.nfa.stages[k] as NfaStage<E>;
    if (this.rules !== null && this.pruned(ev[0] as Captured<E>)) return;
    if (stage.completes && count >= stage.min) this.emit(ev);
    const m = (count < stage.max ? stage.loopBit : 0) | (count >= stage.min ? stage.exitBits : 0);
    if (m !== 0) out.push({ s: k, c: count, m, g: 0, ev });
  }

  /**
   * Expires the prefix of runs whose first event is `horizon` or more before `now`; returns how many.
   * A pending notFollowedBy match completes; a run that already emitted its match (it sits in a
   * completing stage) just ends; any other run is reported as timed out.
   */
  private expire(runs: readonly Run<E>[], now: number): number {
    const nfa = this.nfa;
    let n = 0;
    while (n < runs.length && now - ((runs[n] as Run<E>).ev[0] as Captured<E>)[1] >= nfa.horizon) n++;
    for (let i = 0; i < n; i++) {
      const run = runs[i] as Run<E>;
      if (this.rules !== null && this.pruned(run.ev[0] as Captured<E>)) continue;
      const stage = nfa.stages[run.s] as NfaStage<E>;
      if ((run.m & stage.endBit) !== 0) {
        this.emit(run.ev);
      } else if (!(stage.completes && run.c >= stage.min) && nfa.reportTimeouts) {
        (this.timedOut ??= []).push(buildPartial(nfa, run.ev, now));
      }
    }
    return n;
  }

  private emit(ev: readonly Captured<E>[]): void {
    const nfa = this.nfa;
    (this.matches ??= []).push(buildMatch(nfa, ev));
    const skip = nfa.skip;
    let at: Captured<E> | undefined;
    let mode = LT;
    switch (skip.kind) {
      case 'noSkip':
        return;
      case 'skipToNext':
        at = ev[0];
        mode = EQ;
        break;
      case 'skipPastLastEvent':
        at = ev[ev.length - 1];
        mode = LE;
        break;
      case 'skipToFirst':
        at = ev.find((c) => c[0] === nfa.skipStage);
        break;
      case 'skipToLast':
        at = ev.findLast((c) => c[0] === nfa.skipStage);
        break;
      default: {
        const never: never = skip;
        throw new Error(`unknown skip strategy ${JSON.stringify(never)}`);
      }
    }
    // skipToFirst / skipToLast on a stage the match skipped (optional): nothing is pruned.
    if (at === undefined) return;
    (this.rules ??= []).push(at[1], at[2], mode);
  }

  private pruned(first: Captured<E>): boolean {
    const rules = this.rules as number[];
    for (let i = 0; i < rules.length; i += 3) {
      const d = first[1] - (rules[i] as number) || first[2] - (rules[i + 1] as number);
      const mode = rules[i + 2];
      if (mode === EQ ? d === 0 : mode === LE ? d <= 0 : d < 0) return true;
    }
    return false;
  }

  private applyRules(out: Run<E>[]): Run<E>[] {
    if (this.rules === null) return out;
    return out.filter((run) => !this.pruned(run.ev[0] as Captured<E>));
  }

  private result(state: CepState<E>, dropped: number): CepResult<E> {
    return { state, matches: this.matches ?? NO_MATCHES, timedOut: this.timedOut ?? NO_MATCHES, dropped };
  }
}
