/**
 * The one error class of the CEP module. Every invalid pattern, quantifier or compile option throws
 * it with a fixed code, so callers (job definitions, tests) act on `code`, never on message text.
 *
 * All of them are programming errors found while a job is being defined: retrying cannot help.
 */
export const CepErrorCode = {
  /** A stage name that is empty or already used in the pattern. */
  BAD_NAME: 'CEP_BAD_NAME',
  /** times(0), times(3, 2), a non-integer count, or a second quantifier on one stage. */
  BAD_QUANTIFIER: 'CEP_BAD_QUANTIFIER',
  /** consecutive(), allowCombinations() or until() on a stage that does not loop. */
  NOT_LOOPING: 'CEP_NOT_LOOPING',
  /** A quantifier, optional() or until() on a notNext / notFollowedBy stage. */
  NEGATION_QUANTIFIED: 'CEP_NEGATION_QUANTIFIED',
  /** or() on a stage that has no where() yet. */
  NO_CONDITION: 'CEP_NO_CONDITION',
  /** within() that is not a positive finite number of milliseconds, or set twice. */
  BAD_WINDOW: 'CEP_BAD_WINDOW',
  /** The pattern as a whole cannot match: only optional stages, a negation at the end without within(), ... */
  BAD_PATTERN: 'CEP_BAD_PATTERN',
  /** skipToFirst / skipToLast naming a stage the pattern does not have (or a negated one). */
  BAD_SKIP: 'CEP_BAD_SKIP',
  /** A compile option out of range, or neither within() nor a ttl to bound partial matches. */
  BAD_OPTION: 'CEP_BAD_OPTION',
} as const;
export type CepErrorCode = (typeof CepErrorCode)[keyof typeof CepErrorCode];

export class CepPatternError extends Error {
  override readonly name = 'CepPatternError';
  /** The same pattern will fail again: fix the job definition. */
  readonly poison = true;
  readonly retriable = false;

  constructor(
    readonly code: CepErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isCepPatternError(e: unknown, code?: CepErrorCode): e is CepPatternError {
  return e instanceof CepPatternError && (code === undefined || e.code === code);
}
