/** within pruning, ttl, timed-out partial matches, equal timestamps. */
import { describe, expect, it } from 'vitest';
import { Pattern, advanceTime, compile, nextTimer } from '../../src/cep/index.js';
import { drive, is, type Ev } from './support/driver.js';

const ab = () => Pattern.begin<Ev>('a').where(is('a')).followedBy('b').where(is('b'));

describe('within', () => {
  const nfa = compile(ab().within(10));

  it('a match must end less than within after it starts', () => {
    expect(drive(nfa, 'a1@0 b1@9').matches).toEqual(['a:a1 b:b1']);
    expect(drive(nfa, 'a1@0 b1@10').matches).toEqual([]);
  });

  it('advanceTime prunes expired partial matches and reports them as timed out', () => {
    const r = drive(nfa, 'a1@0 a2@5');
    expect(r.state.r).toHaveLength(2);
    expect(nextTimer(nfa, r.state)).toBe(10);
    const at10 = advanceTime(nfa, r.state, 10);
    expect(at10.timedOut.map((p) => [p.events['a']?.[0]?.id, p.reason, p.expiredAt])).toEqual([
      ['a1', 'within', 10],
    ]);
    expect(at10.state.r).toHaveLength(1);
    expect(nextTimer(nfa, at10.state)).toBe(15);
  });

  it('advanceTime before any deadline returns the same state object', () => {
    const r = drive(nfa, 'a1@0');
    expect(advanceTime(nfa, r.state, 9).state).toBe(r.state);
  });

  it('an event the NFA ignores returns the same state object', () => {
    const r = drive(nfa, 'a1@0');
    expect(drive(nfa, 'c1@1 c2@2', r.state).state).toBe(r.state);
  });

  it('a partial match that already completed is not reported as timed out', () => {
    const more = compile(Pattern.begin<Ev>('a').where(is('a')).oneOrMore().within(10));
    const r = drive(more, 'a1@0 wm@50');
    expect(r.matches).toEqual(['a:a1']);
    expect(r.timedOut).toEqual([]);
  });
});

describe('equal timestamps', () => {
  it('events sharing one event time are matched in arrival order', () => {
    const nfa = compile(ab().next('c').where(is('c')).within(10));
    expect(drive(nfa, 'a1@5 b1@5 c1@5').matches).toEqual(['a:a1 b:b1 c:c1']);
  });

  it('a window of 1 ms holds only events of the same millisecond', () => {
    const nfa = compile(ab().within(1));
    expect(drive(nfa, 'a1@5 b1@5 a2@6 b2@7').matches).toEqual(['a:a1 b:b1']);
  });
});

describe('ttl for patterns without within', () => {
  it('discards partial matches older than ttl, reported with reason ttl', () => {
    const nfa = compile(ab(), { ttl: 100 });
    const r = drive(nfa, 'a1@0 wm@100');
    expect(r.timedOut).toEqual(['a:a1']);
    expect(r.steps[1]?.timedOut[0]?.reason).toBe('ttl');
  });

  it('ttl: Infinity keeps partial matches until they complete', () => {
    const nfa = compile(ab(), { ttl: Infinity });
    expect(drive(nfa, 'a1@0 wm@1000000 b1@2000000').matches).toEqual(['a:a1 b:b1']);
    expect(nextTimer(nfa, drive(nfa, 'a1@0').state)).toBeUndefined();
  });
});
