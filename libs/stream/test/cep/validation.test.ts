/** Invalid patterns and options fail at definition time with a code and a message saying why. */
import { describe, expect, it } from 'vitest';
import { CepErrorCode, Pattern, compile, skipToLast } from '../../src/cep/index.js';
import type { CepErrorCode as Code } from '../../src/cep/index.js';
import { is, type Ev } from './support/driver.js';

const a = () => Pattern.begin<Ev>('a').where(is('a'));

function fails(code: Code, message: RegExp, build: () => unknown): void {
  expect(build).toThrow(
    expect.objectContaining({ name: 'CepPatternError', code, message: expect.stringMatching(message) }),
  );
}

describe('pattern validation', () => {
  it('times(0), negative, fractional or inverted ranges', () => {
    fails(CepErrorCode.BAD_QUANTIFIER, /times\(0\).*>= 1.*optional/, () => a().times(0));
    fails(CepErrorCode.BAD_QUANTIFIER, /times\(-1\)/, () => a().times(-1));
    fails(CepErrorCode.BAD_QUANTIFIER, /integer/, () => a().times(1.5));
    fails(CepErrorCode.BAD_QUANTIFIER, /max must be an integer >= min/, () => a().times(3, 2));
    fails(CepErrorCode.BAD_QUANTIFIER, /timesOrMore\(0\)/, () => a().timesOrMore(0));
  });

  it('two quantifiers on one stage', () => {
    fails(CepErrorCode.BAD_QUANTIFIER, /already has a quantifier/, () => a().times(2).oneOrMore());
    fails(CepErrorCode.BAD_QUANTIFIER, /optional\(\) twice/, () => a().optional().optional());
  });

  it('consecutive, allowCombinations and until need a looping stage', () => {
    fails(CepErrorCode.NOT_LOOPING, /consecutive\(\) on stage 'a', which does not loop/, () =>
      a().consecutive(),
    );
    fails(CepErrorCode.NOT_LOOPING, /allowCombinations/, () => a().times(1).allowCombinations());
    fails(CepErrorCode.NOT_LOOPING, /until/, () => a().until(is('x')));
    fails(CepErrorCode.BAD_QUANTIFIER, /already set/, () =>
      a().oneOrMore().consecutive().allowCombinations(),
    );
  });

  it('quantifiers on a negation', () => {
    fails(CepErrorCode.NEGATION_QUANTIFIED, /negated stage 'x'/, () =>
      a().notNext('x').where(is('x')).times(2),
    );
    fails(CepErrorCode.NEGATION_QUANTIFIED, /optional/, () =>
      a().notFollowedBy('x').where(is('x')).optional(),
    );
  });

  it('empty or duplicate stage names', () => {
    fails(CepErrorCode.BAD_NAME, /non-empty/, () => Pattern.begin<Ev>(''));
    fails(CepErrorCode.BAD_NAME, /'a' is used twice/, () => a().next('a'));
  });

  it('or() without a where()', () => {
    fails(CepErrorCode.NO_CONDITION, /needs a where/, () => Pattern.begin<Ev>('a').or(is('a')));
  });

  it('within() not positive, not finite, or twice', () => {
    fails(CepErrorCode.BAD_WINDOW, /positive finite/, () => a().within(0));
    fails(CepErrorCode.BAD_WINDOW, /positive finite/, () => a().within(Infinity));
    fails(CepErrorCode.BAD_WINDOW, /set twice/, () => a().within(5).within(6));
  });

  it('a begin-only pattern that is optional, or any pattern with only optional stages', () => {
    fails(CepErrorCode.BAD_PATTERN, /every stage of the pattern is optional/, () =>
      compile(a().optional().within(5)),
    );
    fails(CepErrorCode.BAD_PATTERN, /optional/, () =>
      compile(a().optional().followedBy('b').optional().within(5)),
    );
  });

  it('notFollowedBy at the end without within, and notNext at the end', () => {
    fails(CepErrorCode.BAD_PATTERN, /ends with notFollowedBy\('x'\) but has no within/, () =>
      compile(a().notFollowedBy('x').where(is('x')), { ttl: 10 }),
    );
    fails(CepErrorCode.BAD_PATTERN, /ends with notNext\('x'\)/, () =>
      compile(a().notNext('x').where(is('x')).within(5)),
    );
  });

  it('a negation without a condition', () => {
    fails(CepErrorCode.NO_CONDITION, /forbid every event/, () =>
      compile(a().notFollowedBy('x').followedBy('b').within(5)),
    );
  });

  it('neither within() nor ttl', () => {
    fails(CepErrorCode.BAD_OPTION, /add within\(ms\), or pass \{ ttl \}/, () => compile(a().next('b')));
  });

  it('bad options', () => {
    fails(CepErrorCode.BAD_OPTION, /maxPartialMatches/, () =>
      compile(a().within(5), { maxPartialMatches: 0 }),
    );
    fails(CepErrorCode.BAD_OPTION, /ttl/, () => compile(a(), { ttl: -1 }));
  });

  it('skipToLast naming a stage that does not exist', () => {
    fails(CepErrorCode.BAD_SKIP, /skipToLast\('zz'\).*stages: a, b/, () =>
      compile(
        Pattern.begin<Ev>('a', { skip: skipToLast('zz') })
          .next('b')
          .within(5),
      ),
    );
  });

  it('patterns are immutable: extending one does not change it', () => {
    const base = a();
    const longer = base.next('b').times(2);
    expect(base.stages).toHaveLength(1);
    expect(longer.stages).toHaveLength(2);
    expect(Object.isFrozen(compile(longer.within(5)))).toBe(true);
  });

  it('the fingerprint changes with the structure, not with the predicates', () => {
    const f = (p: Pattern<Ev>) => compile(p).fingerprint;
    expect(f(a().times(3).within(5))).toBe(f(Pattern.begin<Ev>('a').where(is('b')).times(3).within(5)));
    expect(f(a().times(3).within(5))).not.toBe(f(a().times(2).within(5)));
  });
});
