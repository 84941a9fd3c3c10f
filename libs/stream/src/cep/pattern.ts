/**
 * The pattern builder. A `Pattern` is an immutable list of stages; every method returns a new
 * pattern, so a partly built pattern can be shared and extended in two directions safely.
 * `compile()` (compile.ts) turns it into the NFA the runtime runs per key.
 *
 * Errors that are local to one call (times(0), consecutive() on a stage that does not loop) throw
 * at that call, so the stack points at the offending line; rules about the pattern as a whole
 * (what it ends with, whether anything is mandatory) are checked by `compile()`.
 */
import { CepErrorCode, CepPatternError } from './errors.js';

/** A condition on one event. Must be pure: the NFA may call it any number of times per event. */
export type Predicate<E> = (event: E) => boolean;

/**
 * How the events of a match may be spread over the key's stream:
 * - `strict`: the next matched event is the very next event of the key (`next`, `consecutive`).
 * - `relaxed`: events in between are skipped only while they do not match (`followedBy`, and the
 *   default between the iterations of `times` / `oneOrMore`); the first matching event is taken.
 * - `any`: any later matching event may be taken, each choice being its own match
 *   (`followedByAny`, `allowCombinations`).
 */
export type Contiguity = 'strict' | 'relaxed' | 'any';

/** What a stage is: one that takes events, or a negation that forbids them. */
export type StageKind = 'take' | 'notNext' | 'notFollowedBy';

/** One stage as written; plain data apart from the predicates. */
export interface StageSpec<E> {
  readonly name: string;
  readonly kind: StageKind;
  /** How this stage's first event relates to the previous stage's last event (`any` for the first stage). */
  readonly contiguity: Contiguity;
  /** AND of the `where` calls, OR-ed with the `or` calls; `undefined` matches every event. */
  readonly where: Predicate<E> | undefined;
  /** Looping stages only: an event matching it is never taken and closes the loop. */
  readonly until: Predicate<E> | undefined;
  /** Minimum and maximum number of events once the stage is entered (`max` may be Infinity). */
  readonly min: number;
  readonly max: number;
  /** Whether the stage may be skipped entirely (then it has 0 events, otherwise `min..max`). */
  readonly optional: boolean;
  /** Contiguity between the stage's own events when it loops (`max > 1`). */
  readonly loop: Contiguity;
  /** Whether a quantifier (times / timesOrMore / oneOrMore) was set; at most one per stage. */
  readonly quantified: boolean;
}

/**
 * What happens to other partial matches once a match is emitted; each is plain data so it can be
 * logged and compared. Comparisons are by the position of a partial match's first event.
 */
export type AfterMatchSkip =
  | { readonly kind: 'noSkip' }
  | { readonly kind: 'skipToNext' }
  | { readonly kind: 'skipPastLastEvent' }
  | { readonly kind: 'skipToFirst'; readonly stage: string }
  | { readonly kind: 'skipToLast'; readonly stage: string };

/** Every partial match is kept: overlapping matches are all emitted. The default. */
export const noSkip = (): AfterMatchSkip => ({ kind: 'noSkip' });
/** Partial matches that started with the same event as the match are discarded. */
export const skipToNext = (): AfterMatchSkip => ({ kind: 'skipToNext' });
/** Partial matches that started at or before the match's last event are discarded: matches never overlap. */
export const skipPastLastEvent = (): AfterMatchSkip => ({ kind: 'skipPastLastEvent' });
/** Partial matches that started before the first event of stage `stage` in the match are discarded. */
export const skipToFirst = (stage: string): AfterMatchSkip => ({ kind: 'skipToFirst', stage });
/** Partial matches that started before the last event of stage `stage` in the match are discarded. */
export const skipToLast = (stage: string): AfterMatchSkip => ({ kind: 'skipToLast', stage });

export interface BeginOptions {
  /** After-match skip strategy; default `noSkip()`. */
  readonly skip?: AfterMatchSkip;
}

/**
 * An immutable CEP pattern over events of type `E`.
 *
 * @example
 * ```ts
 * // Per robot: three command acks with outcome 'timeout', no 'completed' in between, within 10 min.
 * const threeTimeouts = Pattern.begin<CommandAck>('timeouts', { skip: skipPastLastEvent() })
 *   .where((ack) => ack.outcome === 'timeout')
 *   .times(3)
 *   .until((ack) => ack.outcome === 'completed')
 *   .within(10 * 60_000);
 * const nfa = compile(threeTimeouts);
 * ```
 */
export class Pattern<E> {
  private constructor(
    /** The stages in the order written. */
    readonly stages: readonly StageSpec<E>[],
    /** `within(ms)`: every match's last event is less than this many ms after its first; undefined if unset. */
    readonly windowMs: number | undefined,
    readonly skip: AfterMatchSkip,
  ) {}

  /** Starts a pattern with a stage called `name` that takes one event (until quantified). */
  static begin<E>(name: string, options: BeginOptions = {}): Pattern<E> {
    return new Pattern<E>([newStage<E>(name, 'take', 'any', [])], undefined, options.skip ?? noSkip());
  }

  /** The next stage's first event must be the very next event after this stage's last one. */
  next(name: string): Pattern<E> {
    return this.append(name, 'take', 'strict');
  }

  /** The next stage takes the first matching event after this stage; non-matching events are skipped. */
  followedBy(name: string): Pattern<E> {
    return this.append(name, 'take', 'relaxed');
  }

  /** The next stage may take any later matching event; each choice is a separate match. */
  followedByAny(name: string): Pattern<E> {
    return this.append(name, 'take', 'any');
  }

  /** The event right after the previous stage's last event must not match this stage's condition. */
  notNext(name: string): Pattern<E> {
    return this.append(name, 'notNext', 'strict');
  }

  /**
   * No event between the previous stage and the next one may match this stage's condition. At the
   * end of a pattern it needs `within()`: the match is emitted when the window closes without one.
   */
  notFollowedBy(name: string): Pattern<E> {
    return this.append(name, 'notFollowedBy', 'relaxed');
  }

  /** Adds a condition; several `where` calls on one stage must all hold. */
  where(predicate: Predicate<E>): Pattern<E> {
    const s = this.current;
    const prev = s.where;
    return this.replace({ ...s, where: prev === undefined ? predicate : (e: E) => prev(e) && predicate(e) });
  }

  /** Widens the condition built so far: the stage matches if it holds or `predicate` holds. */
  or(predicate: Predicate<E>): Pattern<E> {
    const s = this.current;
    const prev = s.where;
    if (prev === undefined) {
      throw new CepPatternError(
        CepErrorCode.NO_CONDITION,
        `or() on stage '${s.name}' needs a where() before it`,
      );
    }
    return this.replace({ ...s, where: (e: E) => prev(e) || predicate(e) });
  }

  /** Exactly `n` events, or between `min` and `max` events (both inclusive) with `times(min, max)`. */
  times(n: number, max?: number): Pattern<E> {
    const min = n;
    const hi = max ?? n;
    if (!Number.isInteger(min) || min < 1) {
      throw new CepPatternError(
        CepErrorCode.BAD_QUANTIFIER,
        `times(${n}) on stage '${this.current.name}': the count must be an integer >= 1 (use optional() for zero)`,
      );
    }
    if (!Number.isInteger(hi) || hi < min) {
      throw new CepPatternError(
        CepErrorCode.BAD_QUANTIFIER,
        `times(${n}, ${max}) on stage '${this.current.name}': max must be an integer >= min`,
      );
    }
    return this.quantify('times', min, hi);
  }

  /** At least `n` events (n >= 1). */
  timesOrMore(n: number): Pattern<E> {
    if (!Number.isInteger(n) || n < 1) {
      throw new CepPatternError(
        CepErrorCode.BAD_QUANTIFIER,
        `timesOrMore(${n}) on stage '${this.current.name}': the count must be an integer >= 1`,
      );
    }
    return this.quantify('timesOrMore', n, Infinity);
  }

  /** One event or more. */
  oneOrMore(): Pattern<E> {
    return this.quantify('oneOrMore', 1, Infinity);
  }

  /** The stage may be skipped (0 events); if entered, its quantifier still applies (times(2).optional() is 0 or 2). */
  optional(): Pattern<E> {
    const s = this.current;
    this.assertTakes(s, 'optional()');
    if (s.optional) {
      throw new CepPatternError(CepErrorCode.BAD_QUANTIFIER, `optional() twice on stage '${s.name}'`);
    }
    return this.replace({ ...s, optional: true });
  }

  /** The stage's own events must follow each other with nothing in between (strict loop). */
  consecutive(): Pattern<E> {
    return this.loopContiguity('strict', 'consecutive()');
  }

  /** Any later matching event may be the stage's next one; each choice is a separate match. */
  allowCombinations(): Pattern<E> {
    return this.loopContiguity('any', 'allowCombinations()');
  }

  /**
   * Looping stages only: an event matching `predicate` is never taken by the stage, and once one
   * occurs between the stage's events the stage takes no more (e.g. a success resets a timeout count).
   */
  until(predicate: Predicate<E>): Pattern<E> {
    const s = this.current;
    this.assertTakes(s, 'until()');
    if (s.max <= 1) {
      throw new CepPatternError(
        CepErrorCode.NOT_LOOPING,
        `until() on stage '${s.name}', which does not loop: put it after times(n>1), timesOrMore() or oneOrMore()`,
      );
    }
    const prev = s.until;
    return this.replace({ ...s, until: prev === undefined ? predicate : (e: E) => prev(e) || predicate(e) });
  }

  /** A match's last event must be less than `ms` after its first (event time). Bounds partial matches. */
  within(ms: number): Pattern<E> {
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new CepPatternError(
        CepErrorCode.BAD_WINDOW,
        `within(${ms}): the window must be a positive finite number of milliseconds`,
      );
    }
    if (this.windowMs !== undefined) {
      throw new CepPatternError(
        CepErrorCode.BAD_WINDOW,
        `within() set twice (${this.windowMs} ms, then ${ms} ms)`,
      );
    }
    return new Pattern(this.stages, ms, this.skip);
  }

  private get current(): StageSpec<E> {
    // A pattern always has its begin stage.
    return this.stages[this.stages.length - 1] as StageSpec<E>;
  }

  private append(name: string, kind: StageKind, contiguity: Contiguity): Pattern<E> {
    return new Pattern(
      [...this.stages, newStage<E>(name, kind, contiguity, this.stages)],
      this.windowMs,
      this.skip,
    );
  }

  private replace(stage: StageSpec<E>): Pattern<E> {
    return new Pattern([...this.stages.slice(0, -1), stage], this.windowMs, this.skip);
  }

  private quantify(what: string, min: number, max: number): Pattern<E> {
    const s = this.current;
    this.assertTakes(s, `${what}`);
    if (s.quantified) {
      throw new CepPatternError(
        CepErrorCode.BAD_QUANTIFIER,
        `${what} on stage '${s.name}', which already has a quantifier`,
      );
    }
    return this.replace({ ...s, min, max, quantified: true });
  }

  private loopContiguity(loop: Contiguity, what: string): Pattern<E> {
    const s = this.current;
    this.assertTakes(s, what);
    if (s.max <= 1) {
      throw new CepPatternError(
        CepErrorCode.NOT_LOOPING,
        `${what} on stage '${s.name}', which does not loop: put it after times(n>1), timesOrMore() or oneOrMore()`,
      );
    }
    if (s.loop !== 'relaxed') {
      throw new CepPatternError(
        CepErrorCode.BAD_QUANTIFIER,
        `${what} on stage '${s.name}', whose loop contiguity is already set`,
      );
    }
    return this.replace({ ...s, loop });
  }

  private assertTakes(s: StageSpec<E>, what: string): void {
    if (s.kind !== 'take') {
      throw new CepPatternError(
        CepErrorCode.NEGATION_QUANTIFIED,
        `${what} on negated stage '${s.name}' (${s.kind}): a negation forbids one kind of event and takes no quantifier`,
      );
    }
  }
}

function newStage<E>(
  name: string,
  kind: StageKind,
  contiguity: Contiguity,
  existing: readonly StageSpec<E>[],
): StageSpec<E> {
  if (typeof name !== 'string' || name.length === 0) {
    throw new CepPatternError(CepErrorCode.BAD_NAME, 'a stage name must be a non-empty string');
  }
  if (existing.some((s) => s.name === name)) {
    throw new CepPatternError(
      CepErrorCode.BAD_NAME,
      `stage name '${name}' is used twice; matches group events by stage name`,
    );
  }
  return {
    name,
    kind,
    contiguity,
    where: undefined,
    until: undefined,
    min: 1,
    max: 1,
    optional: false,
    loop: 'relaxed',
    quantified: false,
  };
}
