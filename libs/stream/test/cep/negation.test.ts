/** notNext and notFollowedBy, in the middle and at the end of a pattern. */
import { describe, expect, it } from 'vitest';
import { Pattern, advanceTime, compile, nextTimer } from '../../src/cep/index.js';
import { drive, is, type Ev } from './support/driver.js';

const a = () => Pattern.begin<Ev>('a').where(is('a'));

describe('notNext', () => {
  const nfa = compile(a().notNext('x').where(is('x')).followedBy('b').where(is('b')).within(100));

  it('discards the partial match when the very next event is forbidden', () => {
    expect(drive(nfa, 'a1@0 x1@1 b1@2').matches).toEqual([]);
  });

  it('lets a forbidden event through once another event came first', () => {
    expect(drive(nfa, 'a1@0 c1@1 x1@2 b1@3').matches).toEqual(['a:a1 b:b1']);
  });

  it('does not apply to the event the next stage takes', () => {
    const both = compile(a().notNext('x').where(is('b')).followedBy('b').where(is('b')).within(100));
    expect(drive(both, 'a1@0 b1@1').matches).toEqual(['a:a1 b:b1']);
  });
});

describe('notFollowedBy in the middle', () => {
  const nfa = compile(a().notFollowedBy('x').where(is('x')).followedBy('b').where(is('b')).within(100));

  it('discards the partial match when a forbidden event comes before the next stage', () => {
    expect(drive(nfa, 'a1@0 c1@1 x1@2 b1@3').matches).toEqual([]);
  });

  it('does not look past the next stage', () => {
    expect(drive(nfa, 'a1@0 b1@1 x1@2').matches).toEqual(['a:a1 b:b1']);
  });

  it('with followedByAny, only the branches before the forbidden event survive', () => {
    const any = compile(a().notFollowedBy('x').where(is('x')).followedByAny('b').where(is('b')).within(100));
    expect(drive(any, 'a1@0 b1@1 x1@2 b2@3').matches).toEqual(['a:a1 b:b1']);
  });
});

describe('notFollowedBy at the end (needs within)', () => {
  // A command accepted but not completed within 10 time units.
  const nfa = compile(a().notFollowedBy('done').where(is('d')).within(10));

  it('completes when the watermark passes first event + within without a forbidden event', () => {
    const r = drive(nfa, 'a1@0 c1@3');
    expect(r.matches).toEqual([]);
    expect(nextTimer(nfa, r.state)).toBe(10);
    expect(advanceTime(nfa, r.state, 9).matches).toEqual([]);
    const done = advanceTime(nfa, r.state, 10);
    expect(done.matches.map((m) => m.events['a']?.[0]?.id)).toEqual(['a1']);
    expect(done.timedOut).toEqual([]);
    expect(nextTimer(nfa, done.state)).toBeUndefined();
  });

  it('completes when a later event shows time has passed', () => {
    expect(drive(nfa, 'a1@0 c1@10').matches).toEqual(['a:a1']);
  });

  it('a forbidden event inside the window discards it; one at the window end does not', () => {
    expect(drive(nfa, 'a1@0 d1@9 wm@100').matches).toEqual([]);
    expect(drive(nfa, 'a1@0 d1@10 wm@100').matches).toEqual(['a:a1']);
  });

  it('the window counts from the first event of the match', () => {
    const two = compile(a().followedBy('b').where(is('b')).notFollowedBy('done').where(is('d')).within(10));
    expect(drive(two, 'a1@0 b1@8 d1@11 wm@20').matches).toEqual(['a:a1 b:b1']);
    expect(drive(two, 'a1@0 b1@8 d1@9 wm@20').matches).toEqual([]);
  });
});
