/**
 * A CEP pattern (src/cep) as a keyed operator. The NFA needs each key's events in non-decreasing
 * event time; the stream delivers them out of order within B. So, per key:
 *
 * - an on-time element (eventTime ≥ E(k)) is inserted into a buffer (keyed list state, sorted by
 *   event time, stable by arrival for equal times) with an event-time timer at its time;
 * - a timer fires once E(k) > t (README, "Timers"): every buffered element with eventTime < E(k)
 *   has arrived by then, so all of them are fed to `advance` in order, then `advanceTime(E(k))`
 *   expires partial matches and completes pending `notFollowedBy` matches, and an event-time timer
 *   is registered at `nextTimer − 1` (it fires when E(k) ≥ nextTimer, the first watermark at which
 *   `advanceTime` does something);
 * - a late element (E(k) − L ≤ eventTime < E(k)) is fed at once if it is not earlier than the
 *   last element fed to this key's NFA (order kept), else it goes to the side output
 *   `cep_out_of_order`. It meets the NFA as it stands: partial matches that expired and
 *   `notFollowedBy` matches emitted at an earlier watermark are not revisited (CEP output is
 *   never corrected, unlike a window's).
 *
 * State: `<name>_buf` (list of `[eventTime, element]`) and `<name>_nfa_<fingerprint>` (the NFA state
 * and the last fed event time), so a checkpoint of a differently structured pattern is never
 * restored into this one. The NFA entry is deleted once the NFA is idle and the last fed time is
 * beyond allowed lateness (no element that the last-fed rule must judge can come any more); until
 * then one event-time timer at `lastFed + L − 1` is kept to delete it.
 */
import { jsonCodec, type StateDescriptor } from '@fleet/state';
import { fnv1a, compile, type CompileOptions, type Nfa } from '../cep/compile.js';
import type { Match, PartialMatch } from '../cep/match.js';
import { advance, advanceTime, initialState, isIdle, nextTimer, type CepState } from '../cep/nfa.js';
import { Pattern } from '../cep/pattern.js';
import { NAME_PATTERN, StreamError } from '../errors.js';
import type { Context, Operator } from './api.js';

/** Side output of late elements that cannot be fed in event-time order. */
export const CEP_OUT_OF_ORDER = 'cep_out_of_order';
/** Side output counting partial matches dropped beyond `maxPartialMatches`. */
export const CEP_DROPPED = 'cep_dropped';

export interface CepOperatorOptions<E, OUT> {
  /** A compiled NFA, or a pattern compiled here with `compileOptions`. */
  readonly pattern: Nfa<E> | Pattern<E>;
  readonly compileOptions?: CompileOptions<E>;
  /** The output row of a match; emitted with id `<job>/<operator>/<key>/<match.id>`. */
  readonly toOutput: (match: Match<E>, key: string) => OUT;
  /**
   * Optional: a row for a partial match that expired (within / ttl), or undefined for none; id
   * `<job>/<operator>/<key>/<partial.id>.timeout`.
   */
  readonly timedOut?: (partial: PartialMatch<E>, key: string) => OUT | undefined;
}

export interface CepSelectOptions<IN, E, OUT> extends CepOperatorOptions<E, OUT> {
  /**
   * Maps the job's element to the pattern's event (a small projection keeps state small), or
   * undefined to ignore it: an ignored element is not buffered and never reaches the NFA.
   */
  readonly select: (value: IN) => E | undefined;
}

/** What a key's side output `cep_out_of_order` carries. */
export interface CepOutOfOrder {
  readonly reason: typeof CEP_OUT_OF_ORDER;
  readonly eventTime: number;
  /** Event time of the last element fed to this key's NFA, which this one precedes. */
  readonly lastFedTime: number;
  readonly watermark: number;
  readonly value: unknown;
}

/** The key's NFA state and the event time of the last element fed to it. */
interface NfaEntry<E> {
  readonly s: CepState<E>;
  readonly f: number;
}

type Buffered<E> = readonly [eventTime: number, event: E];

/**
 * A keyed operator that runs a CEP pattern per key, in event-time order, and emits a row per match.
 *
 * @example
 * const alerts = cepOperator('command_alerts', {
 *   pattern: Pattern.begin<Ack>('timeouts', { skip: skipPastLastEvent() })
 *     .where((a) => a.outcome === 'timeout')
 *     .times(3)
 *     .until((a) => a.outcome === 'completed')
 *     .within(10 * 60_000),
 *   toOutput: (m, robotId) => ({ robotId, commands: m.events['timeouts']?.map((a) => a.commandId) }),
 * });
 * const job = defineJob<Ack>({ name: 'fleet', read: (r, out) => out.element(r.key, ack(r).robotTime, ack(r)), operators: [alerts] });
 */
export function cepOperator<E, OUT>(name: string, o: CepOperatorOptions<E, OUT>): Operator<E, OUT>;
export function cepOperator<IN, E, OUT>(name: string, o: CepSelectOptions<IN, E, OUT>): Operator<IN, OUT>;
export function cepOperator<IN, E, OUT>(
  name: string,
  o: CepOperatorOptions<E, OUT> & { readonly select?: (value: IN) => E | undefined },
): Operator<IN, OUT> {
  if (!NAME_PATTERN.test(name)) {
    throw new StreamError('BAD_NAME', `operator name ${JSON.stringify(name)} does not match ${NAME_PATTERN}`);
  }
  let nfa: Nfa<E>;
  if (o.pattern instanceof Pattern) nfa = compile(o.pattern, o.compileOptions);
  else if (o.compileOptions !== undefined) {
    throw new StreamError('BAD_CONFIG', `${name}: compileOptions given with an already compiled NFA`);
  } else nfa = o.pattern;
  const select = o.select ?? ((v: IN) => v as unknown as E);
  const { toOutput, timedOut } = o;

  const bufDesc: StateDescriptor<Buffered<E>> = {
    name: `${name}_buf`,
    kind: 'list',
    codec: jsonCodec<Buffered<E>>(),
  };
  const nfaDesc: StateDescriptor<NfaEntry<E>> = {
    name: `${name}_nfa_${nfa.fingerprint}`,
    kind: 'value',
    codec: jsonCodec<NfaEntry<E>>(),
  };

  /** Feeds every buffered element behind the watermark, advances the NFA to it, emits, re-arms. */
  const settle = (ctx: Context<OUT>): void => {
    const e = ctx.watermark;
    const key = ctx.key;
    const nfaState = ctx.state.value(nfaDesc);
    const bufState = ctx.state.list(bufDesc);
    const stored = nfaState.get();
    let s = stored?.s ?? initialState<E>();
    let f = stored?.f ?? -Infinity;
    let dropped = 0;
    const emit = (matches: readonly Match<E>[], expired: readonly PartialMatch<E>[]) => {
      for (const m of matches) ctx.emit(toOutput(m, key), m.id);
      if (timedOut === undefined) return;
      for (const p of expired) {
        const row = timedOut(p, key);
        if (row !== undefined) ctx.emit(row, `${p.id}.timeout`);
      }
    };

    const buf = bufState.get();
    let n = 0;
    while (n < buf.length && (buf[n] as Buffered<E>)[0] < e) n++;
    if (n > 0) {
      const rest = buf.slice(n);
      for (let i = 0; i < n; i++) {
        const [t, event] = buf[i] as Buffered<E>;
        const r = advance(nfa, s, event, t);
        emit(r.matches, r.timedOut);
        dropped += r.dropped;
        s = r.state;
        f = t;
        ctx.timers.deleteEventTime(t);
      }
      bufState.replace(rest);
    }
    const r = advanceTime(nfa, s, e);
    emit(r.matches, r.timedOut);
    dropped += r.dropped;
    s = r.state;
    if (dropped > 0) ctx.sideOutput(CEP_DROPPED, { dropped, watermark: e });

    const lateness = ctx.allowedLatenessMs;
    const quiet = isIdle(s);
    // f ≤ E − L: every element earlier than f would be beyond lateness, diverted by the task.
    if (quiet && !(f > e - lateness)) {
      if (stored !== undefined) nfaState.clear();
    } else if (stored === undefined || stored.s !== s || stored.f !== f) {
      nfaState.set({ s, f });
    }
    // Re-arm after the deletes above (a deleted element timer may share a time with these). A
    // superseded expiry timer is deleted unless a buffered element's timer shares its time.
    const due = nextTimer(nfa, s);
    const before = stored === undefined ? undefined : nextTimer(nfa, stored.s);
    if (before !== undefined && before !== due && before - 1 >= e) {
      if (!buf.some(([t]) => t === before - 1)) ctx.timers.deleteEventTime(before - 1);
    }
    if (due !== undefined) ctx.timers.registerEventTime(due - 1);
    if (quiet && f > e - lateness) ctx.timers.registerEventTime(f + lateness - 1);
  };

  return {
    name,
    fn: {
      processElement(value, ctx) {
        const event = select(value);
        if (event === undefined) return;
        const t = ctx.timestamp;
        if (ctx.late) {
          const f = ctx.state.value(nfaDesc).get()?.f;
          if (f !== undefined && t < f) {
            const out: CepOutOfOrder = {
              reason: CEP_OUT_OF_ORDER,
              eventTime: t,
              lastFedTime: f,
              watermark: ctx.watermark,
              value,
            };
            // Not the default `e<t>.<n>`: two such elements with one event time would share it.
            ctx.sideOutput(CEP_OUT_OF_ORDER, out, `e${t}.${hashOf(value)}`);
            return;
          }
        }
        const bufState = ctx.state.list(bufDesc);
        const buf = bufState.get();
        const last = buf[buf.length - 1];
        if (last === undefined || last[0] <= t) bufState.add([t, event]);
        else {
          let i = buf.length;
          while (i > 0 && (buf[i - 1] as Buffered<E>)[0] > t) i--;
          bufState.replace([...buf.slice(0, i), [t, event], ...buf.slice(i)]);
        }
        // Behind the watermark (late, in order): every buffered element is ≥ E(k) > t, so it is
        // fed now, ahead of them.
        if (ctx.late) settle(ctx);
        else ctx.timers.registerEventTime(t);
      },
      onTimer(_t, ctx) {
        settle(ctx);
      },
    },
  };
}

function hashOf(value: unknown): string {
  return fnv1a(JSON.stringify(value) ?? '')
    .toString(16)
    .padStart(8, '0');
}
