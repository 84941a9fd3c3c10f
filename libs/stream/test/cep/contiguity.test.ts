/** Contiguity between stages (next, followedBy, followedByAny) and inside loops. */
import { describe, expect, it } from 'vitest';
import { Pattern, compile } from '../../src/cep/index.js';
import { drive, is, type Ev } from './support/driver.js';

const ab = () => Pattern.begin<Ev>('a').where(is('a'));

describe('contiguity between stages', () => {
  it('next() takes only the very next event', () => {
    const nfa = compile(ab().next('b').where(is('b')).within(100));
    expect(drive(nfa, 'a1@0 b1@1').matches).toEqual(['a:a1 b:b1']);
    expect(drive(nfa, 'a1@0 c1@1 b1@2').matches).toEqual([]);
  });

  it('followedBy() skips non-matching events and takes the first matching one only', () => {
    const nfa = compile(ab().followedBy('b').where(is('b')).within(100));
    expect(drive(nfa, 'a1@0 c1@1 b1@2 b2@3').matches).toEqual(['a:a1 b:b1']);
  });

  it('followedByAny() gives one match per later matching event', () => {
    const nfa = compile(ab().followedByAny('b').where(is('b')).within(100));
    expect(drive(nfa, 'a1@0 c1@1 b1@2 b2@3').matches).toEqual(['a:a1 b:b1', 'a:a1 b:b2']);
  });

  it('every matching event starts its own partial match', () => {
    const nfa = compile(ab().followedBy('b').where(is('b')).within(100));
    expect(drive(nfa, 'a1@0 a2@1 b1@2').matches).toEqual(['a:a1 b:b1', 'a:a2 b:b1']);
  });

  it('a stage without where() takes any event', () => {
    const nfa = compile(ab().next('any').within(100));
    expect(drive(nfa, 'a1@0 c1@1').matches).toEqual(['a:a1 any:c1']);
  });

  it('where() calls are AND-ed and or() widens the condition', () => {
    const both = compile(ab().next('b').where(is('b', 'c')).where(is('c')).within(100));
    expect(drive(both, 'a1@0 b1@1 a2@2 c1@3').matches).toEqual(['a:a2 b:c1']);
    const either = compile(ab().next('b').where(is('b')).or(is('c')).within(100));
    expect(drive(either, 'a1@0 b1@1 a2@2 c1@3').matches).toEqual(['a:a1 b:b1', 'a:a2 b:c1']);
  });
});

describe('contiguity inside a loop (Flink docs example: C D A1 A2 A3 D A4 B)', () => {
  // start 'c', then 'a' one or more times, then 'b'.
  const base = () =>
    Pattern.begin<Ev>('start').where(is('c')).followedBy('middle').where(is('a')).oneOrMore();
  const script = 'c1@0 d1@1 a1@2 a2@3 a3@4 d2@5 a4@6 b1@7';

  it('relaxed (default): events that are not A are skipped between A events', () => {
    const nfa = compile(base().followedBy('end').where(is('b')).within(100));
    expect(drive(nfa, script).matches.filter((m) => m.includes('middle:a1'))).toEqual([
      'start:c1 middle:a1,a2,a3,a4 end:b1',
      'start:c1 middle:a1,a2,a3 end:b1',
      'start:c1 middle:a1,a2 end:b1',
      'start:c1 middle:a1 end:b1',
    ]);
  });

  it('consecutive(): A events must follow each other directly', () => {
    const nfa = compile(base().consecutive().followedBy('end').where(is('b')).within(100));
    expect(drive(nfa, script).matches).toEqual([
      'start:c1 middle:a1,a2,a3 end:b1',
      'start:c1 middle:a1,a2 end:b1',
      'start:c1 middle:a1 end:b1',
    ]);
  });

  it('allowCombinations(): any later A may be the next one', () => {
    const nfa = compile(base().allowCombinations().followedBy('end').where(is('b')).within(100));
    const got = drive(nfa, script).matches;
    expect(got).toHaveLength(8); // a1 followed by any subset of {a2, a3, a4}
    expect(got).toContain('start:c1 middle:a1,a3 end:b1');
    expect(got).toContain('start:c1 middle:a1,a2,a4 end:b1');
  });
});
