/**
 * Complex event processing for the stream runtime: a pattern builder, its compiler to an NFA, and
 * pure functions that run the NFA over one key's events with a JSON-serialisable state.
 * See README.md in this folder for the semantics.
 */
export {
  Pattern,
  noSkip,
  skipToNext,
  skipPastLastEvent,
  skipToFirst,
  skipToLast,
  type AfterMatchSkip,
  type BeginOptions,
  type Contiguity,
  type Predicate,
  type StageKind,
  type StageSpec,
} from './pattern.js';
export { compile, type CompileOptions, type Nfa, type NfaEdge, type NfaStage } from './compile.js';
export {
  advance,
  advanceTime,
  initialState,
  isIdle,
  nextTimer,
  stateSize,
  type CepResult,
  type CepState,
  type Run,
} from './nfa.js';
export type { Captured, Match, PartialMatch } from './match.js';
export { CepErrorCode, CepPatternError, isCepPatternError } from './errors.js';
