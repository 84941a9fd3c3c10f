/**
 * Compiles a `Pattern` into the immutable NFA description that `advance` runs.
 *
 * The NFA has one state per taking stage. Negations are not states: each becomes a guard on the
 * edges that cross it. From a stage, after taking an event, a partial match ("run") may go:
 *   - LOOP    back into the same stage (if the stage may take more events),
 *   - PROCEED into a later stage k (once the stage has its minimum), skipping only optional stages,
 *   - END     to completion, when every later stage is optional and the pattern ends with
 *             notFollowedBy: the match is pending until `within` elapses without a forbidden event.
 * Each edge carries the contiguity of the stage it enters (or the loop's), the entered stage's
 * condition, and the guards of the negations it crosses. A run keeps a bitmask of the edges still
 * open; an event that a run does not take can only close edges (see nfa.ts).
 */
import { CepErrorCode, CepPatternError } from './errors.js';
import type { AfterMatchSkip, Contiguity, Pattern, Predicate, StageSpec } from './pattern.js';

export const STRICT = 0;
export const RELAXED = 1;
export const ANY = 2;
export type ContiguityCode = typeof STRICT | typeof RELAXED | typeof ANY;

export const LOOP = 0;
export const PROCEED = 1;
export const END = 2;
export type EdgeKind = typeof LOOP | typeof PROCEED | typeof END;

/** Edges per stage are tracked in a 31-bit mask. */
const MAX_TAKING_STAGES = 29;

export interface NfaEdge<E> {
  readonly kind: EdgeKind;
  /** Index of the stage entered (the same stage for LOOP); -1 for END. */
  readonly target: number;
  readonly contiguity: ContiguityCode;
  /** Condition of the entered stage; null for END. */
  readonly take: Predicate<E> | null;
  /** Closes the edge if the first event after the run's last one matches (notNext crossed). */
  readonly guardNext: Predicate<E> | null;
  /** Closes the edge if any event after the run's last one matches (notFollowedBy crossed, until). */
  readonly guardUntil: Predicate<E> | null;
}

export interface NfaStage<E> {
  readonly name: string;
  /** where(...) and not until(...). */
  readonly take: Predicate<E>;
  readonly min: number;
  readonly max: number;
  /** Outgoing edges in a fixed order: LOOP, then PROCEED by stage order, then END. */
  readonly edges: readonly NfaEdge<E>[];
  /** Bit of the LOOP edge (0 when the stage does not loop). */
  readonly loopBit: number;
  /** Bits of the PROCEED and END edges, open once the stage has `min` events. */
  readonly exitBits: number;
  /** Bit of the END edge (0 without one). */
  readonly endBit: number;
  /** A run that enters this stage with `min` or more events is a complete match at once. */
  readonly completes: boolean;
  /** Some edge has a notNext guard, so a run must remember whether its gap is still empty. */
  readonly gapSensitive: boolean;
}

export interface CompileOptions<E> {
  /**
   * Upper bound on partial matches held per key (default 32). When an event would leave more, the
   * oldest are dropped and the number is reported as `dropped` in that step's result.
   */
  readonly maxPartialMatches?: number;
  /**
   * For patterns without `within()`: partial matches older than this (ms of event time since their
   * first event) are discarded and reported as timed out with reason 'ttl'. A pattern without
   * within() must pass it (`Infinity` accepts unbounded age explicitly). Ignored when within() is set.
   */
  readonly ttl?: number;
  /**
   * Stable position of an event in its key's stream (e.g. `${bootId}:${seq}`), used for match ids.
   * Default: the event time, suffixed `+n` for the n-th captured event sharing that event time.
   */
  readonly position?: (event: E) => string | number;
  /** Report partial matches that expire (default true); turn off when the job ignores them. */
  readonly reportTimeouts?: boolean;
}

/** The compiled, immutable NFA. Holds the predicates; never serialised (the run state is). */
export interface Nfa<E> {
  readonly stages: readonly NfaStage<E>[];
  /** Stages a run may begin in (the first, and those reachable by skipping optional stages). */
  readonly starts: readonly number[];
  /** Names of the taking stages, the keys of `Match.events` in this order. */
  readonly stageNames: readonly string[];
  readonly within: number | undefined;
  /** Max age of a partial match: within, else ttl, else Infinity. */
  readonly horizon: number;
  readonly expiryReason: 'within' | 'ttl';
  readonly skip: AfterMatchSkip;
  /** For skipToFirst / skipToLast: index of the named stage; -1 otherwise. */
  readonly skipStage: number;
  readonly maxPartialMatches: number;
  readonly position: ((event: E) => string | number) | undefined;
  readonly reportTimeouts: boolean;
  /**
   * Hash of the pattern's structure (names, kinds, quantifiers, contiguity, window, skip; not the
   * predicates' code). Name keyed state after it, so a state written by a different pattern
   * structure is never fed to this NFA after a redeploy.
   */
  readonly fingerprint: string;
}

const CONTIGUITY: Record<Contiguity, ContiguityCode> = { strict: STRICT, relaxed: RELAXED, any: ANY };
const always = (): boolean => true;

/**
 * Validates `pattern` and builds its NFA. Throws `CepPatternError` for patterns that cannot match or
 * cannot be bounded.
 *
 * @example
 * ```ts
 * const nfa = compile(Pattern.begin<Ack>('t').where((a) => a.outcome === 'timeout').times(3).within(600_000));
 * let state = initialState<Ack>();
 * const r = advance(nfa, state, ack, ack.robotTime);
 * state = r.state;
 * ```
 */
export function compile<E>(pattern: Pattern<E>, options: CompileOptions<E> = {}): Nfa<E> {
  const specs = pattern.stages;
  const within = pattern.windowMs;
  const taking = specs.filter((s) => s.kind === 'take');

  if (taking.length > MAX_TAKING_STAGES) {
    throw new CepPatternError(
      CepErrorCode.BAD_PATTERN,
      `a pattern has at most ${MAX_TAKING_STAGES} taking stages; this one has ${taking.length}`,
    );
  }
  if (taking.every((s) => s.optional)) {
    throw new CepPatternError(
      CepErrorCode.BAD_PATTERN,
      `every stage of the pattern is optional (${taking.map((s) => `'${s.name}'`).join(', ')}), so it would match nothing; make one stage mandatory`,
    );
  }
  const last = specs[specs.length - 1] as StageSpec<E>;
  if (last.kind === 'notNext') {
    throw new CepPatternError(
      CepErrorCode.BAD_PATTERN,
      `the pattern ends with notNext('${last.name}'); put a stage after it, or use notFollowedBy('${last.name}') with within()`,
    );
  }
  if (last.kind === 'notFollowedBy' && within === undefined) {
    throw new CepPatternError(
      CepErrorCode.BAD_PATTERN,
      `the pattern ends with notFollowedBy('${last.name}') but has no within(): without a window the absence can never be confirmed`,
    );
  }
  for (const s of specs) {
    if (s.kind !== 'take' && s.where === undefined) {
      throw new CepPatternError(
        CepErrorCode.NO_CONDITION,
        `negated stage '${s.name}' has no where(): it would forbid every event`,
      );
    }
  }

  const maxPartialMatches = options.maxPartialMatches ?? 32;
  if (!Number.isInteger(maxPartialMatches) || maxPartialMatches < 1) {
    throw new CepPatternError(
      CepErrorCode.BAD_OPTION,
      `maxPartialMatches must be an integer >= 1, got ${maxPartialMatches}`,
    );
  }
  const ttl = options.ttl;
  if (ttl !== undefined && !(ttl > 0)) {
    throw new CepPatternError(
      CepErrorCode.BAD_OPTION,
      `ttl must be a positive number of milliseconds (or Infinity), got ${ttl}`,
    );
  }
  if (within === undefined && ttl === undefined) {
    throw new CepPatternError(
      CepErrorCode.BAD_OPTION,
      'the pattern has no within(), so its partial matches could live forever: add within(ms), or pass { ttl } to compile (Infinity to accept unbounded age)',
    );
  }

  const stageNames = taking.map((s) => s.name);
  let skipStage = -1;
  const skip = pattern.skip;
  if (skip.kind === 'skipToFirst' || skip.kind === 'skipToLast') {
    skipStage = stageNames.indexOf(skip.stage);
    if (skipStage < 0) {
      throw new CepPatternError(
        CepErrorCode.BAD_SKIP,
        `${skip.kind}('${skip.stage}'): the pattern has no taking stage of that name (stages: ${stageNames.join(', ')})`,
      );
    }
  }

  // Negations between taking stage i and i+1, and after the last one.
  const between: { next: Predicate<E>[]; until: Predicate<E>[] }[] = taking.map(() => ({
    next: [],
    until: [],
  }));
  let takingIndex = -1;
  for (const s of specs) {
    if (s.kind === 'take') {
      takingIndex++;
      continue;
    }
    const slot = between[takingIndex] as { next: Predicate<E>[]; until: Predicate<E>[] };
    (s.kind === 'notNext' ? slot.next : slot.until).push(s.where as Predicate<E>);
  }

  const takes = taking.map((s): Predicate<E> => {
    const where = s.where ?? always;
    const until = s.until;
    return until === undefined ? where : (e: E) => where(e) && !until(e);
  });

  const stages: NfaStage<E>[] = taking.map((s, j) => {
    const edges: NfaEdge<E>[] = [];
    let loopBit = 0;
    let exitBits = 0;
    let endBit = 0;
    if (s.max > 1) {
      loopBit = 1 << edges.length;
      edges.push({
        kind: LOOP,
        target: j,
        contiguity: CONTIGUITY[s.loop],
        take: takes[j] as Predicate<E>,
        guardNext: null,
        guardUntil: s.until ?? null,
      });
    }
    const crossedNext: Predicate<E>[] = [];
    const crossedUntil: Predicate<E>[] = [];
    let k = j + 1;
    for (; k < taking.length; k++) {
      const gap = between[k - 1] as { next: Predicate<E>[]; until: Predicate<E>[] };
      crossedNext.push(...gap.next);
      crossedUntil.push(...gap.until);
      const target = taking[k] as StageSpec<E>;
      exitBits |= 1 << edges.length;
      edges.push({
        kind: PROCEED,
        target: k,
        contiguity: CONTIGUITY[target.contiguity],
        take: takes[k] as Predicate<E>,
        guardNext: anyOf(crossedNext),
        guardUntil: anyOf(crossedUntil),
      });
      if (!target.optional) break;
    }
    let completes = false;
    if (k >= taking.length) {
      // Every later stage is optional: the run can complete here. Only the negations after the last
      // taking stage matter then (earlier ones guard gaps between two taken events, and there is none).
      const trailing = between[taking.length - 1] as { next: Predicate<E>[]; until: Predicate<E>[] };
      if (trailing.until.length === 0) {
        completes = true;
      } else {
        endBit = 1 << edges.length;
        exitBits |= endBit;
        edges.push({
          kind: END,
          target: -1,
          contiguity: ANY,
          take: null,
          guardNext: null,
          guardUntil: anyOf(trailing.until),
        });
      }
    }
    return Object.freeze({
      name: s.name,
      take: takes[j] as Predicate<E>,
      min: s.min,
      max: s.max,
      edges: Object.freeze(edges.map((e) => Object.freeze(e))),
      loopBit,
      exitBits,
      endBit,
      completes,
      gapSensitive: edges.some((e) => e.guardNext !== null),
    });
  });

  const starts: number[] = [];
  for (let k = 0; k < taking.length; k++) {
    starts.push(k);
    if (!(taking[k] as StageSpec<E>).optional) break;
  }

  const horizon = within ?? ttl ?? Infinity;
  return Object.freeze({
    stages: Object.freeze(stages),
    starts: Object.freeze(starts),
    stageNames: Object.freeze(stageNames),
    within,
    horizon,
    expiryReason: within !== undefined ? 'within' : 'ttl',
    skip,
    skipStage,
    maxPartialMatches,
    position: options.position,
    reportTimeouts: options.reportTimeouts ?? true,
    fingerprint: fingerprint(pattern),
  } as const);
}

function anyOf<E>(preds: readonly Predicate<E>[]): Predicate<E> | null {
  if (preds.length === 0) return null;
  if (preds.length === 1) return preds[0] as Predicate<E>;
  const all = [...preds];
  return (e: E) => all.some((p) => p(e));
}

function fingerprint<E>(pattern: Pattern<E>): string {
  const text = JSON.stringify({
    stages: pattern.stages.map((s) => [
      s.name,
      s.kind,
      s.contiguity,
      s.min,
      s.max === Infinity ? -1 : s.max,
      s.optional,
      s.loop,
      s.until !== undefined,
    ]),
    within: pattern.windowMs ?? null,
    skip: pattern.skip,
  });
  return fnv1a(text).toString(16).padStart(8, '0');
}

/** 32-bit FNV-1a over UTF-16 code units. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
