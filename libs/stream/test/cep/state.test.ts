/**
 * The run state as the runtime uses it: checkpointed as JSON mid-stream, never mutated, and bounded
 * in size whatever the input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Pattern,
  advance,
  advanceTime,
  compile,
  initialState,
  nextTimer,
  stateSize,
} from '../../src/cep/index.js';
import type { CepResult, CepState, Nfa } from '../../src/cep/index.js';
import { buildPattern, events, patternDesc } from './support/arbitraries.js';
import { drive, is, show, type Ev } from './support/driver.js';

type Op = { readonly event: Ev } | { readonly watermark: number };

/** Events interleaved with watermarks at (or before) the latest event time. */
const script = (maxLength: number) =>
  events(maxLength).chain((evs) =>
    fc
      .array(fc.boolean(), { minLength: evs.length, maxLength: evs.length })
      .map((wms) =>
        evs.flatMap((event, i): Op[] =>
          wms[i] === true ? [{ event }, { watermark: event.t }] : [{ event }],
        ),
      ),
  );

function summary(r: CepResult<Ev>): string {
  return JSON.stringify([
    r.matches.map((m) => [m.id, show(m)]),
    r.timedOut.map((p) => [p.id, show(p), p.reason]),
    r.dropped,
  ]);
}

function step(nfa: Nfa<Ev>, s: CepState<Ev>, op: Op): CepResult<Ev> {
  return 'event' in op ? advance(nfa, s, op.event, op.event.t) : advanceTime(nfa, s, op.watermark);
}

function compiled(desc: Parameters<typeof buildPattern>[0], maxPartialMatches = 64): Nfa<Ev> | undefined {
  const p = buildPattern(desc);
  if (p === undefined) return undefined;
  try {
    return compile(p, { maxPartialMatches, ttl: 20 });
  } catch {
    return undefined;
  }
}

const deepFreeze = <T>(v: T): T => {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
};

describe('serialisation', () => {
  it('a JSON round trip of the state at any point gives the same matches, ids and timeouts as without', () => {
    const skips = ['noSkip', 'skipToNext', 'skipPastLastEvent', 'skipToFirst', 'skipToLast'] as const;
    fc.assert(
      fc.property(patternDesc(skips), script(30), fc.array(fc.nat(), { maxLength: 4 }), (desc, ops, cuts) => {
        const nfa = compiled(desc);
        fc.pre(nfa !== undefined);
        if (nfa === undefined) return;
        const cutAt = new Set(cuts.map((c) => c % (ops.length + 1)));
        let a = initialState<Ev>();
        let b = initialState<Ev>();
        ops.forEach((op, i) => {
          if (cutAt.has(i)) b = JSON.parse(JSON.stringify(b)) as CepState<Ev>;
          const ra = step(nfa, a, op);
          const rb = step(nfa, b, op);
          expect(summary(rb)).toBe(summary(ra));
          a = ra.state;
          b = rb.state;
        });
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      }),
      { numRuns: 1500 },
    );
  });

  it('advance and advanceTime never mutate the state they are given', () => {
    fc.assert(
      fc.property(patternDesc(['noSkip', 'skipPastLastEvent']), script(25), (desc, ops) => {
        const nfa = compiled(desc);
        fc.pre(nfa !== undefined);
        if (nfa === undefined) return;
        let s = initialState<Ev>();
        for (const op of ops) {
          const before = JSON.stringify(s);
          const r = step(nfa, deepFreeze(s), op); // a write to a frozen object throws in strict mode
          expect(JSON.stringify(s)).toBe(before);
          s = r.state;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('bounded state', () => {
  it('random long sequences never hold more than maxPartialMatches, nor anything older than the window', () => {
    fc.assert(
      fc.property(
        patternDesc(['noSkip', 'skipToNext']),
        script(300),
        fc.integer({ min: 1, max: 8 }),
        (desc, ops, max) => {
          const nfa = compiled(desc, max);
          fc.pre(nfa !== undefined);
          if (nfa === undefined) return;
          let s = initialState<Ev>();
          let now = 0;
          for (const op of ops) {
            const r = step(nfa, s, op);
            s = r.state;
            now = 'event' in op ? op.event.t : op.watermark;
            expect(s.r.length).toBeLessThanOrEqual(max);
            for (const run of s.r) expect(now - (run.ev[0]?.[1] ?? -Infinity)).toBeLessThan(nfa.horizon);
            const timer = nextTimer(nfa, s);
            if (s.r.length > 0) expect(timer).toBeGreaterThan(now);
            else expect(timer).toBeUndefined();
          }
          // Once the watermark passes the last timer, nothing is left.
          expect(advanceTime(nfa, s, now + nfa.horizon).state.r).toHaveLength(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('overflow drops the oldest partial matches and counts them', () => {
    const nfa = compile(Pattern.begin<Ev>('a').where(is('a')).followedBy('b').where(is('b')).within(100), {
      maxPartialMatches: 2,
    });
    const r = drive(nfa, 'a1@0 a2@1 a3@2 a4@3 b1@4');
    expect(r.dropped).toBe(2);
    expect(r.steps.map((x) => x.dropped)).toEqual([0, 0, 1, 1, 0]);
    expect(r.matches).toEqual(['a:a3 b:b1', 'a:a4 b:b1']);
  });

  it('stateSize reports partial matches, held events and JSON length', () => {
    const nfa = compile(Pattern.begin<Ev>('a').where(is('a')).times(3).within(100));
    const s = drive(nfa, 'a1@0 a2@1').state;
    expect(stateSize(s)).toEqual({
      partialMatches: 2,
      capturedEvents: 3,
      approxBytes: JSON.stringify(s).length,
    });
    expect(stateSize(initialState())).toEqual({ partialMatches: 0, capturedEvents: 0, approxBytes: 21 });
  });
});
