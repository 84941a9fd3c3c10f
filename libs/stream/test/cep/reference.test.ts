/**
 * The NFA against the brute-force reference matcher (support/reference.ts), on random patterns and
 * random short event sequences with equal timestamps. The reference is written from the documented
 * semantics, not from the NFA, so agreement checks both the NFA and the documentation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { advanceTime, compile } from '../../src/cep/index.js';
import type { Match } from '../../src/cep/index.js';
import { buildPattern, events, patternDesc } from './support/arbitraries.js';
import { drive, type Ev } from './support/driver.js';
import { referenceMatches } from './support/reference.js';

/** A match as sorted `index:stage` pairs, comparable with the reference's. */
function key(m: Match<Ev>): string {
  return Object.entries(m.events)
    .flatMap(([stage, evs]) => evs.map((e) => [Number(e.id.slice(1)), stage] as const))
    .sort((a, b) => a[0] - b[0])
    .map(([i, s]) => `${i}:${s}`)
    .join(' ');
}

function runNfa(desc: Parameters<typeof buildPattern>[0], evs: Ev[]) {
  const pattern = buildPattern(desc);
  if (pattern === undefined) return undefined;
  let nfa;
  try {
    nfa = compile(pattern, { maxPartialMatches: 100_000, ttl: Infinity });
  } catch {
    return undefined; // an invalid whole pattern (e.g. only optional stages): covered by validation tests
  }
  const run = drive(
    nfa,
    evs.map((event) => ({ event })),
  );
  const end = advanceTime(nfa, run.state, Number.MAX_SAFE_INTEGER);
  return { pattern, run, matches: [...run.raw, ...end.matches] };
}

describe('NFA agrees with the brute-force reference matcher', () => {
  it('emits exactly the reference matches under noSkip (random patterns, up to 8 events)', () => {
    fc.assert(
      fc.property(patternDesc(['noSkip']), events(8), (desc, evs) => {
        const r = runNfa(desc, evs);
        fc.pre(r !== undefined);
        if (r === undefined) return;
        const expected = referenceMatches(
          r.pattern,
          evs,
          evs.map((e) => e.t),
        )
          .map((m) => m.map(([i, s]) => `${i}:${s}`).join(' '))
          .sort();
        expect(r.matches.map(key).sort()).toEqual(expected);
        expect(r.run.dropped).toBe(0);
        // Ids are unique per distinct match.
        expect(new Set(r.matches.map((m) => m.id)).size).toBe(r.matches.length);
      }),
      { numRuns: 4000 },
    );
  });

  it('under skipPastLastEvent emits a subset of the reference matches, none overlapping', () => {
    fc.assert(
      fc.property(patternDesc(['skipPastLastEvent']), events(8), (desc, evs) => {
        const r = runNfa(desc, evs);
        fc.pre(r !== undefined);
        if (r === undefined) return;
        const all = new Set(
          referenceMatches(
            r.pattern,
            evs,
            evs.map((e) => e.t),
          ).map((m) => m.map(([i, s]) => `${i}:${s}`).join(' ')),
        );
        const got = r.matches.map(key);
        for (const g of got) expect(all.has(g)).toBe(true);
        const spans = got.map((g) => g.split(' ').map((p) => Number(p.split(':')[0])));
        const ordered = [...spans].sort((a, b) => (a[0] as number) - (b[0] as number));
        for (let i = 1; i < ordered.length; i++) {
          expect(ordered[i]?.[0]).toBeGreaterThan(
            (ordered[i - 1] as number[])[(ordered[i - 1] as number[]).length - 1] as number,
          );
        }
        // If the reference has any match, at least one is emitted.
        if (all.size > 0) expect(got.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });
});
