/**
 * The product pattern: per robot, three command acks with outcome 'timeout' and no success in
 * between, within 10 minutes, raise one alert.
 */
import { describe, expect, it } from 'vitest';
import {
  Pattern,
  advance,
  advanceTime,
  compile,
  initialState,
  isIdle,
  skipPastLastEvent,
  stateSize,
} from '../../src/cep/index.js';
import type { CepState, Match } from '../../src/cep/index.js';

interface Ack {
  readonly commandId: string;
  readonly outcome: 'accepted' | 'completed' | 'rejected' | 'failed' | 'timeout';
  readonly robotTime: number;
  readonly seq: number;
}

const MIN = 60_000;

const threeTimeouts = Pattern.begin<Ack>('timeouts', { skip: skipPastLastEvent() })
  .where((a) => a.outcome === 'timeout')
  .times(3)
  .until((a) => a.outcome === 'completed')
  .within(10 * MIN);

let seq = 0;
const ack = (outcome: Ack['outcome'], minute: number): Ack => ({
  commandId: `c${++seq}`,
  outcome,
  robotTime: minute * MIN,
  seq,
});

function feed(nfa: ReturnType<typeof compile<Ack>>, acks: Ack[], state: CepState<Ack> = initialState()) {
  const matches: Match<Ack>[] = [];
  const timedOut: Match<Ack>[] = [];
  for (const a of acks) {
    const r = advance(nfa, state, a, a.robotTime);
    state = r.state;
    matches.push(...r.matches);
    timedOut.push(...r.timedOut);
  }
  return { state, matches, timedOut };
}

const ids = (m: Match<Ack>) => (m.events['timeouts'] ?? []).map((a) => a.commandId);

describe('three command timeouts within 10 minutes', () => {
  const nfa = compile(threeTimeouts);

  it('three timeouts in a row within 10 min raise one alert; a success in between resets', () => {
    seq = 0;
    const raised = feed(nfa, [ack('timeout', 0), ack('timeout', 1), ack('timeout', 2)]);
    expect(raised.matches.map(ids)).toEqual([['c1', 'c2', 'c3']]);
    expect(isIdle(raised.state)).toBe(true);

    seq = 0;
    const reset = feed(nfa, [
      ack('timeout', 0),
      ack('timeout', 1),
      ack('completed', 2),
      ack('timeout', 3),
      ack('timeout', 4),
    ]);
    expect(reset.matches).toEqual([]);
    // The count restarts after the success: one more timeout completes c4, c5, c6.
    const after = feed(nfa, [ack('timeout', 5)], reset.state);
    expect(after.matches.map(ids)).toEqual([['c4', 'c5', 'c6']]);
  });

  it('acks other than a success (accepted, rejected, failed) neither count nor reset', () => {
    seq = 0;
    const r = feed(nfa, [
      ack('timeout', 0),
      ack('accepted', 1),
      ack('timeout', 2),
      ack('rejected', 3),
      ack('failed', 3),
      ack('timeout', 4),
    ]);
    expect(r.matches.map(ids)).toEqual([['c1', 'c3', 'c6']]);
  });

  it('a fourth and fifth timeout do not raise again; the sixth raises a second alert', () => {
    seq = 0;
    const r = feed(
      nfa,
      [1, 2, 3, 4, 5, 6].map((m) => ack('timeout', m)),
    );
    expect(r.matches.map(ids)).toEqual([
      ['c1', 'c2', 'c3'],
      ['c4', 'c5', 'c6'],
    ]);
  });

  it('timeouts spread over more than 10 minutes raise nothing, and expire as timed-out partial matches', () => {
    seq = 0;
    const r = feed(nfa, [ack('timeout', 0), ack('timeout', 6), ack('timeout', 10)]);
    expect(r.matches).toEqual([]);
    // When c3 arrives (10 min after c1), the partial match c1,c2 has expired.
    expect(r.timedOut.map(ids)).toEqual([['c1', 'c2']]);
    // c2,c3 and c3 are open until the watermark passes 16 and 20 minutes.
    const at16 = advanceTime(nfa, r.state, 16 * MIN);
    expect(at16.timedOut.map(ids)).toEqual([['c2', 'c3']]);
    const later = advanceTime(nfa, at16.state, 20 * MIN);
    expect(later.timedOut.map(ids)).toEqual([['c3']]);
    expect(later.timedOut.every((p) => p.reason === 'within')).toBe(true);
    expect(isIdle(later.state)).toBe(true);
  });

  it('the third timeout exactly 10 minutes after the first is outside the window', () => {
    seq = 0;
    expect(feed(nfa, [ack('timeout', 0), ack('timeout', 5), ack('timeout', 10)]).matches).toEqual([]);
    seq = 0;
    const justIn = feed(nfa, [
      ack('timeout', 0),
      ack('timeout', 5),
      { ...ack('timeout', 10), robotTime: 10 * MIN - 1 },
    ]);
    expect(justIn.matches).toHaveLength(1);
  });

  it('with consecutive(), any other ack in between resets the count', () => {
    const strict = compile(
      Pattern.begin<Ack>('timeouts', { skip: skipPastLastEvent() })
        .where((a) => a.outcome === 'timeout')
        .times(3)
        .consecutive()
        .within(10 * MIN),
    );
    seq = 0;
    expect(
      feed(strict, [
        ack('timeout', 0),
        ack('timeout', 1),
        ack('accepted', 1),
        ack('timeout', 2),
        ack('timeout', 3),
      ]).matches,
    ).toEqual([]);
    seq = 0;
    expect(
      feed(strict, [ack('accepted', 0), ack('timeout', 1), ack('timeout', 2), ack('timeout', 3)]).matches.map(
        ids,
      ),
    ).toEqual([['c2', 'c3', 'c4']]);
  });

  it('match ids come from the first and last positions and are the same on a replay', () => {
    seq = 0;
    const acks = [ack('timeout', 0), ack('timeout', 1), ack('timeout', 2)];
    const a = feed(nfa, acks).matches[0] as Match<Ack>;
    const b = feed(nfa, acks).matches[0] as Match<Ack>;
    expect(a.id).toBe(b.id);
    expect(a.first).toBe(String(0));
    expect(a.last).toBe(String(2 * MIN));
    expect(a.id).toMatch(/^0~120000~[0-9a-f]{8}$/);

    const bySeq = compile(threeTimeouts, { position: (x) => x.seq });
    const c = feed(bySeq, acks).matches[0] as Match<Ack>;
    expect(c.id).toMatch(/^1~3~[0-9a-f]{8}$/);
  });

  it('two acks at the same event time get distinct positions', () => {
    seq = 0;
    const r = feed(nfa, [ack('timeout', 1), ack('timeout', 1), ack('timeout', 1)]);
    const m = r.matches[0] as Match<Ack>;
    expect([m.first, m.last]).toEqual([`${MIN}`, `${MIN}+2`]);
  });

  it('an idle robot keeps no partial match, and a robot mid-pattern keeps a small state', () => {
    seq = 0;
    const idle = feed(nfa, [ack('completed', 0), ack('accepted', 1)]);
    expect(idle.state).toBe(initialState());
    const mid = feed(nfa, [ack('timeout', 0), ack('timeout', 1)]);
    const size = stateSize(mid.state);
    expect(size.partialMatches).toBe(2);
    expect(size.capturedEvents).toBe(3);
    expect(size.approxBytes).toBeLessThan(400);
  });
});
