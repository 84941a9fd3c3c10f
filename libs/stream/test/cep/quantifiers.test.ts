/** times, timesOrMore, oneOrMore, optional and until. */
import { describe, expect, it } from 'vitest';
import { Pattern, compile, skipPastLastEvent } from '../../src/cep/index.js';
import { drive, is, type Ev } from './support/driver.js';

const a = () => Pattern.begin<Ev>('a').where(is('a'));

describe('quantifiers', () => {
  it('times(n) takes exactly n events', () => {
    const nfa = compile(a().times(2).within(100));
    expect(drive(nfa, 'a1@0 b1@1 a2@2 a3@3').matches).toEqual(['a:a1,a2', 'a:a2,a3']);
  });

  it('times(min, max) takes between min and max events, emitting each as soon as it is complete', () => {
    const nfa = compile(a().times(2, 3).within(100));
    expect(drive(nfa, 'a1@0 a2@1 a3@2').matches).toEqual(['a:a1,a2', 'a:a1,a2,a3', 'a:a2,a3']);
  });

  it('oneOrMore() at the end emits on every event it takes', () => {
    const nfa = compile(a().oneOrMore().within(100));
    expect(drive(nfa, 'a1@0 a2@1').matches).toEqual(['a:a1', 'a:a1,a2', 'a:a2']);
  });

  it('timesOrMore(n) needs n before it may move on', () => {
    const nfa = compile(a().timesOrMore(2).consecutive().next('b').where(is('b')).within(100));
    expect(drive(nfa, 'a1@0 b1@1 a2@2 a3@3 b2@4').matches).toEqual(['a:a2,a3 b:b2']);
  });

  it('optional() in the middle may be skipped', () => {
    const nfa = compile(a().next('b').where(is('b')).optional().followedBy('c').where(is('c')).within(100));
    // a1..c1 also matches with b skipped: c is relaxed, so b1 in between is passed over.
    expect(drive(nfa, 'a1@0 b1@1 c1@2 a2@3 c2@4').matches).toEqual([
      'a:a1 b:b1 c:c1',
      'a:a1 c:c1',
      'a:a2 c:c2',
    ]);
  });

  it('skipping an optional stage uses the contiguity of the stage entered next', () => {
    // c is relaxed after a skipped b: events in between are fine; with next('c') they are not.
    const relaxed = compile(
      a().next('b').where(is('b')).optional().followedBy('c').where(is('c')).within(100),
    );
    expect(drive(relaxed, 'a1@0 d1@1 c1@2').matches).toEqual(['a:a1 c:c1']);
    const strict = compile(a().next('b').where(is('b')).optional().next('c').where(is('c')).within(100));
    expect(drive(strict, 'a1@0 d1@1 c1@2').matches).toEqual([]);
  });

  it('an optional first stage lets a match begin at the second', () => {
    const nfa = compile(a().optional().followedBy('b').where(is('b')).within(100));
    expect(drive(nfa, 'a1@0 b1@1 b2@2').matches).toEqual(['a:a1 b:b1', 'b:b1', 'b:b2']);
  });

  it('an optional last stage: the match without it is emitted at once, the longer one too', () => {
    const nfa = compile(a().followedBy('b').where(is('b')).optional().within(100));
    expect(drive(nfa, 'a1@0 b1@1').matches).toEqual(['a:a1', 'a:a1 b:b1']);
  });

  it('times(2).optional() is zero or two events, never one', () => {
    const nfa = compile(
      a().next('b').where(is('b')).times(2).optional().next('c').where(is('c')).within(100),
    );
    expect(drive(nfa, 'a1@0 b1@1 b2@2 c1@3 a2@4 c2@5 a3@6 b3@7 c3@8').matches).toEqual([
      'a:a1 b:b1,b2 c:c1',
      'a:a2 c:c2',
    ]);
  });

  it('until() stops a loop: the stopping event is not taken and the loop takes nothing after it', () => {
    const nfa = compile(a().oneOrMore().until(is('x')).followedBy('b').where(is('b')).within(100));
    const r = drive(nfa, 'a1@0 x1@1 a2@2 b1@3');
    expect(r.matches).toEqual(['a:a1 b:b1', 'a:a2 b:b1']);
  });

  it('until() on times(3): a success in the middle resets the count', () => {
    const nfa = compile(a().times(3).until(is('s')).within(100));
    expect(drive(nfa, 'a1@0 a2@1 s1@2 a3@3 a4@4 a5@5').matches).toEqual(['a:a3,a4,a5']);
  });

  it('with skipPastLastEvent, a greedy-looking longest match is the one emitted', () => {
    const p = Pattern.begin<Ev>('a', { skip: skipPastLastEvent() })
      .where(is('a'))
      .oneOrMore()
      .followedBy('b')
      .where(is('b'))
      .within(100);
    expect(drive(compile(p), 'a1@0 a2@1 a3@2 b1@3').matches).toEqual(['a:a1,a2,a3 b:b1']);
  });
});
