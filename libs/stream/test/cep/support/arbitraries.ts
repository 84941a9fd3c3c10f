/**
 * fast-check generators for CEP property tests: random patterns (as plain descriptions, built into
 * `Pattern`s here) and random event sequences over kinds a, b, c with equal timestamps allowed.
 */
import fc from 'fast-check';
import {
  Pattern,
  isCepPatternError,
  noSkip,
  skipPastLastEvent,
  skipToFirst,
  skipToLast,
  skipToNext,
} from '../../../src/cep/index.js';
import type { AfterMatchSkip } from '../../../src/cep/index.js';
import type { Ev } from './driver.js';

const KINDS = ['a', 'b', 'c'] as const;
type Kind = (typeof KINDS)[number];

export interface CondDesc {
  readonly op: 'is' | 'not';
  readonly kind: Kind;
}
export interface StageDesc {
  readonly entry: 'next' | 'followedBy' | 'followedByAny';
  readonly cond: CondDesc;
  readonly quant: 'one' | 'times' | 'range' | 'oneOrMore' | 'timesOrMore';
  readonly n: number;
  readonly optional: boolean;
  readonly loop: 'relaxed' | 'consecutive' | 'allowCombinations';
  readonly until: Kind | null;
  readonly negation: { readonly kind: 'notNext' | 'notFollowedBy'; readonly cond: CondDesc } | null;
}
export interface PatternDesc {
  readonly stages: readonly StageDesc[];
  readonly within: number | null;
  readonly skip: 'noSkip' | 'skipToNext' | 'skipPastLastEvent' | 'skipToFirst' | 'skipToLast';
}

const cond = fc.record({
  op: fc.constantFrom('is' as const, 'not' as const),
  kind: fc.constantFrom(...KINDS),
});

const stageDesc: fc.Arbitrary<StageDesc> = fc.record({
  entry: fc.constantFrom('next' as const, 'followedBy' as const, 'followedByAny' as const),
  cond,
  quant: fc.constantFrom(
    'one' as const,
    'one' as const,
    'times' as const,
    'range' as const,
    'oneOrMore' as const,
    'timesOrMore' as const,
  ),
  n: fc.integer({ min: 1, max: 3 }),
  optional: fc.boolean(),
  loop: fc.constantFrom('relaxed' as const, 'consecutive' as const, 'allowCombinations' as const),
  until: fc.option(fc.constantFrom(...KINDS), { freq: 3 }),
  negation: fc.option(
    fc.record({ kind: fc.constantFrom('notNext' as const, 'notFollowedBy' as const), cond }),
    { freq: 2 },
  ),
});

export const patternDesc = (skips: readonly PatternDesc['skip'][] = ['noSkip']): fc.Arbitrary<PatternDesc> =>
  fc.record({
    stages: fc.array(stageDesc, { minLength: 1, maxLength: 3 }),
    within: fc.option(fc.integer({ min: 1, max: 12 }), { freq: 3 }),
    skip: fc.constantFrom(...skips),
  });

const predicate = (c: CondDesc) => (e: Ev) => (c.op === 'is' ? e.kind === c.kind : e.kind !== c.kind);

function skipOf(d: PatternDesc): AfterMatchSkip {
  const first = 's0';
  switch (d.skip) {
    case 'noSkip':
      return noSkip();
    case 'skipToNext':
      return skipToNext();
    case 'skipPastLastEvent':
      return skipPastLastEvent();
    case 'skipToFirst':
      return skipToFirst(first);
    case 'skipToLast':
      return skipToLast(first);
  }
}

/** Builds the pattern, or returns undefined when the description is invalid (the builder throws). */
export function buildPattern(d: PatternDesc): Pattern<Ev> | undefined {
  try {
    let p: Pattern<Ev> | undefined;
    d.stages.forEach((s, i) => {
      const name = `s${i}`;
      p = p === undefined ? Pattern.begin<Ev>(name, { skip: skipOf(d) }) : p[s.entry](name);
      p = p.where(predicate(s.cond));
      if (s.quant === 'times') p = p.times(s.n);
      if (s.quant === 'range') p = p.times(s.n, s.n + 1);
      if (s.quant === 'oneOrMore') p = p.oneOrMore();
      if (s.quant === 'timesOrMore') p = p.timesOrMore(s.n);
      const loops =
        s.quant === 'range' ||
        s.quant === 'oneOrMore' ||
        s.quant === 'timesOrMore' ||
        (s.quant === 'times' && s.n > 1);
      if (loops && s.loop === 'consecutive') p = p.consecutive();
      if (loops && s.loop === 'allowCombinations') p = p.allowCombinations();
      if (loops && s.until !== null) p = p.until(predicate({ op: 'is', kind: s.until }));
      if (s.optional) p = p.optional();
      if (s.negation !== null) p = p[s.negation.kind](`n${i}`).where(predicate(s.negation.cond));
    });
    if (d.within !== null) p = (p as Pattern<Ev>).within(d.within);
    return p;
  } catch (e) {
    if (isCepPatternError(e)) return undefined;
    throw e;
  }
}

/** Events with ids e0, e1, ... and non-decreasing times (steps of 0..maxStep, so equal times occur). */
export const events = (maxLength: number, maxStep = 3): fc.Arbitrary<Ev[]> =>
  fc
    .array(fc.tuple(fc.constantFrom(...KINDS), fc.integer({ min: 0, max: maxStep })), { maxLength })
    .map((xs) => {
      let t = 0;
      return xs.map(([kind, step], i) => {
        t += step;
        return { kind, id: `e${i}`, t };
      });
    });
