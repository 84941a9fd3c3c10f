/**
 * A brute-force reference matcher, written from the semantics in src/cep/README.md and NOT from the
 * NFA: it reads the pattern's stage list and searches every increasing sequence of event indices
 * with a stage label each, keeping those that satisfy the rules. Exponential; small inputs only.
 *
 * A match is a list of (event index, stage) pairs such that:
 *  1. stages appear in pattern order; a stage has 0 events only if optional, else min..max;
 *  2. every event satisfies its stage's where() and not its until();
 *  3. between two consecutive pairs (x, y), the gap (x, y) exclusive satisfies the contiguity of
 *     the edge taken: the stage's loop contiguity if y stays in x's stage, else the entry
 *     contiguity of y's stage. strict: empty gap; relaxed: no gap event satisfies y's stage
 *     condition; any: no constraint. Within a loop, no gap event matches until();
 *  4. for every negation declared between x's stage and y's stage: notNext -> the first gap event
 *     (if any) does not match; notFollowedBy -> no gap event matches;
 *  5. last.t - first.t < within;
 *  6. if the pattern ends in notFollowedBy: no event after the last one, earlier than
 *     first.t + within, matches any trailing negation (the input is taken as complete).
 */
import type { Pattern, Predicate, StageSpec } from '../../../src/cep/index.js';

export type RefMatch = (readonly [index: number, stage: string])[];

export function referenceMatches<E>(
  pattern: Pattern<E>,
  events: readonly E[],
  times: readonly number[],
): RefMatch[] {
  const specs = pattern.stages;
  const within = pattern.windowMs ?? Infinity;
  const taking: StageSpec<E>[] = [];
  /** negationsAfter[j]: negations declared after taking stage j and before taking stage j+1. */
  const negationsAfter: StageSpec<E>[][] = [];
  for (const s of specs) {
    if (s.kind === 'take') {
      taking.push(s);
      negationsAfter.push([]);
    } else {
      (negationsAfter[negationsAfter.length - 1] as StageSpec<E>[]).push(s);
    }
  }
  const where = (s: StageSpec<E>): Predicate<E> => s.where ?? (() => true);
  const takes = (s: StageSpec<E>, e: E): boolean => where(s)(e) && !(s.until?.(e) ?? false);
  const ev = (i: number): E => events[i] as E;
  const time = (i: number): number => times[i] as number;
  const stage = (j: number): StageSpec<E> => taking[j] as StageSpec<E>;
  const gap = (x: number, y: number): number[] => Array.from({ length: y - x - 1 }, (_, d) => x + 1 + d);

  const contiguityOk = (
    c: StageSpec<E>['contiguity'],
    x: number,
    y: number,
    target: StageSpec<E>,
  ): boolean => {
    if (c === 'strict') return y === x + 1;
    if (c === 'relaxed') return gap(x, y).every((z) => !takes(target, ev(z)));
    return true;
  };
  const negationsOk = (negs: readonly StageSpec<E>[], x: number, y: number): boolean =>
    negs.every((n) => {
      if (n.kind === 'notNext') return y === x + 1 || !where(n)(ev(x + 1));
      return gap(x, y).every((z) => !where(n)(ev(z)));
    });

  const out: RefMatch[] = [];
  const trailing = negationsAfter[taking.length - 1] ?? [];

  const extend = (seq: RefMatch, js: number[]): void => {
    const [x] = seq[seq.length - 1] as readonly [number, string];
    const j = js[js.length - 1] as number;
    let count = 0;
    for (let i = js.length - 1; i >= 0 && js[i] === j; i--) count++;
    const t0 = time((seq[0] as readonly [number, string])[0]);
    const s = stage(j);

    // Complete here?
    if (count >= s.min && taking.slice(j + 1).every((l) => l.optional)) {
      const ok = trailing.every((n) =>
        events.every((e, z) => z <= x || time(z) >= t0 + within || !where(n)(e)),
      );
      if (ok) out.push(seq);
    }
    for (let y = x + 1; y < events.length; y++) {
      if (time(y) - t0 >= within) break;
      // Stay in the stage.
      if (count < s.max && takes(s, ev(y)) && contiguityOk(s.loop, x, y, s)) {
        const untilOk = s.until === undefined || gap(x, y).every((z) => !(s.until as Predicate<E>)(ev(z)));
        if (untilOk) extend([...seq, [y, s.name]], [...js, j]);
      }
      // Move on to a later stage, skipping only optional ones.
      if (count < s.min) continue;
      const crossed: StageSpec<E>[] = [...(negationsAfter[j] ?? [])];
      for (let k = j + 1; k < taking.length; k++) {
        const target = stage(k);
        if (
          takes(target, ev(y)) &&
          contiguityOk(target.contiguity, x, y, target) &&
          negationsOk(crossed, x, y)
        ) {
          extend([...seq, [y, target.name]], [...js, k]);
        }
        if (!target.optional) break;
        crossed.push(...(negationsAfter[k] ?? []));
      }
    }
  };

  for (let y = 0; y < events.length; y++) {
    for (let k = 0; k < taking.length; k++) {
      if (takes(stage(k), ev(y))) extend([[y, stage(k).name]], [k]);
      if (!stage(k).optional) break;
    }
  }
  return out;
}
