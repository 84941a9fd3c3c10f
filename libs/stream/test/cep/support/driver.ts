/**
 * A small test driver for CEP: a script of events and watermarks in, readable matches out, so a
 * test reads like the sentence it checks.
 *
 * Script tokens, separated by spaces:
 *   `a1@0`   an event of kind `a` (the leading letters) called `a1`, at event time 0
 *   `wm@50`  advanceTime(50)
 * A match prints as `stage:id,id stage:id` (stages with no events left out), e.g. `a:a1 b:b2`.
 */
import { advance, advanceTime, initialState } from '../../../src/cep/index.js';
import type { CepResult, CepState, Match, Nfa } from '../../../src/cep/index.js';

export interface Ev {
  readonly kind: string;
  readonly id: string;
  readonly t: number;
}

export const is =
  (...kinds: string[]) =>
  (e: Ev): boolean =>
    kinds.includes(e.kind);

export type Step = { readonly event: Ev } | { readonly watermark: number };

export function parse(script: string): Step[] {
  return script
    .split(/\s+/)
    .filter((s) => s.length > 0)
    .map((token): Step => {
      const m = /^([a-z]+)(\w*)@(-?\d+)$/.exec(token);
      if (m === null) throw new Error(`bad script token '${token}'`);
      const [, kind = '', , at = '0'] = m;
      return kind === 'wm'
        ? { watermark: Number(at) }
        : { event: { kind, id: token.split('@')[0] ?? '', t: Number(at) } };
    });
}

export function show(m: Match<Ev>): string {
  return Object.entries(m.events)
    .filter(([, evs]) => evs.length > 0)
    .map(([stage, evs]) => `${stage}:${evs.map((e) => e.id).join(',')}`)
    .join(' ');
}

export interface Run {
  readonly matches: string[];
  readonly timedOut: string[];
  readonly raw: Match<Ev>[];
  readonly dropped: number;
  readonly state: CepState<Ev>;
  /** Results of every step, in order. */
  readonly steps: CepResult<Ev>[];
}

/** Runs `script` through `nfa` from `state` (default: initial). */
export function drive(nfa: Nfa<Ev>, script: string | Step[], state: CepState<Ev> = initialState<Ev>()): Run {
  const steps = typeof script === 'string' ? parse(script) : script;
  const results: CepResult<Ev>[] = [];
  let s = state;
  for (const step of steps) {
    const r =
      'event' in step ? advance(nfa, s, step.event, step.event.t) : advanceTime(nfa, s, step.watermark);
    results.push(r);
    s = r.state;
  }
  const raw = results.flatMap((r) => r.matches);
  return {
    matches: raw.map(show),
    timedOut: results.flatMap((r) => r.timedOut.map(show)),
    raw,
    dropped: results.reduce((n, r) => n + r.dropped, 0),
    state: s,
    steps: results,
  };
}
