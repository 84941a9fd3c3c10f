/**
 * After-match skip strategies on one small sequence: stage 'a' one or more times, then 'b', over
 * a1 a2 a3 b1. Without skipping, six matches end at b1; partial matches with the same first event
 * are offered longest first.
 */
import { describe, expect, it } from 'vitest';
import {
  Pattern,
  compile,
  noSkip,
  skipPastLastEvent,
  skipToFirst,
  skipToLast,
  skipToNext,
} from '../../src/cep/index.js';
import type { AfterMatchSkip } from '../../src/cep/index.js';
import { drive, is, type Ev } from './support/driver.js';

const pattern = (skip: AfterMatchSkip) =>
  Pattern.begin<Ev>('a', { skip }).where(is('a')).oneOrMore().followedBy('b').where(is('b')).within(100);
const SEQ = 'a1@0 a2@1 a3@2 b1@3';

describe('after-match skip strategies (a+ b over a1 a2 a3 b1)', () => {
  it('noSkip emits every match', () => {
    expect(drive(compile(pattern(noSkip())), SEQ).matches).toEqual([
      'a:a1,a2,a3 b:b1',
      'a:a1,a2 b:b1',
      'a:a1 b:b1',
      'a:a2,a3 b:b1',
      'a:a2 b:b1',
      'a:a3 b:b1',
    ]);
  });

  it('skipToNext emits one match per first event', () => {
    expect(drive(compile(pattern(skipToNext())), SEQ).matches).toEqual([
      'a:a1,a2,a3 b:b1',
      'a:a2,a3 b:b1',
      'a:a3 b:b1',
    ]);
  });

  it('skipPastLastEvent emits matches that never share an event', () => {
    expect(drive(compile(pattern(skipPastLastEvent())), SEQ).matches).toEqual(['a:a1,a2,a3 b:b1']);
  });

  it("skipToFirst('a') keeps partial matches starting at or after the match's first a", () => {
    expect(drive(compile(pattern(skipToFirst('a'))), SEQ).matches).toHaveLength(6);
  });

  it("skipToLast('a') discards partial matches starting before the match's last a", () => {
    expect(drive(compile(pattern(skipToLast('a'))), SEQ).matches).toEqual(['a:a1,a2,a3 b:b1', 'a:a3 b:b1']);
  });

  it("skipToFirst('b') discards everything starting before b1, so only the first match is emitted", () => {
    expect(drive(compile(pattern(skipToFirst('b'))), SEQ).matches).toEqual(['a:a1,a2,a3 b:b1']);
  });

  it('skipPastLastEvent across steps: the next match starts after the previous one ended', () => {
    const nfa = compile(
      Pattern.begin<Ev>('a', { skip: skipPastLastEvent() }).where(is('a')).times(2).within(100),
    );
    expect(drive(nfa, 'a1@0 a2@1 a3@2 a4@3 a5@4').matches).toEqual(['a:a1,a2', 'a:a3,a4']);
    const all = compile(Pattern.begin<Ev>('a').where(is('a')).times(2).within(100));
    expect(drive(all, 'a1@0 a2@1 a3@2').matches).toEqual(['a:a1,a2', 'a:a2,a3']);
  });

  it('skipToLast on an optional stage the match skipped prunes nothing', () => {
    const p = Pattern.begin<Ev>('a', { skip: skipToLast('x') })
      .where(is('a'))
      .followedBy('x')
      .where(is('x'))
      .optional()
      .followedBy('b')
      .where(is('b'))
      .within(100);
    expect(drive(compile(p), 'a1@0 a2@1 b1@2').matches).toEqual(['a:a1 b:b1', 'a:a2 b:b1']);
  });
});
