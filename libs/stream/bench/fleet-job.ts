/**
 * The benchmark's job: per robot, a 1-minute tumbling battery/status window over telemetry batches,
 * and the CEP "three command timeouts within 10 minutes" alert over command acks
 * (src/cep/README.md), in one keyed job: both inputs are keyed by robot id, so they meet in one task.
 *
 * Records carry binary values (`encodeTelemetryBatch`, `encodeMessage`) as read from Kafka, or the
 * already-decoded values (the engine-only measurement); `read` accepts both.
 */
import {
  ROBOT_MODES,
  decodeMessage,
  decodeTelemetryBatch,
  type CommandAck,
  type TelemetryBatch,
  type TelemetrySample,
} from '@fleet/protocol';
import { jsonCodec, structCodec, type AggregateFunction, type StateDescriptor } from '@fleet/state';
import {
  Pattern,
  advance,
  advanceTime,
  compile,
  defineJob,
  initialState,
  isIdle,
  nextTimer,
  operator,
  skipPastLastEvent,
  tumblingWindows,
  type CepState,
  type TaskRecord,
} from '../src/index.js';

export const TELEMETRY = 'telemetry';
export const ACKS = 'command_acks';

/** What the CEP state keeps of an ack (a small projection keeps partial matches small). */
export interface AckEvent {
  readonly kind: 'ack';
  readonly c: string;
  readonly o: CommandAck['outcome'];
}

export type FleetElement = TelemetrySample | AckEvent;

export interface Battery {
  readonly samples: number;
  readonly avgVoltageMv: number;
  readonly minSocPermille: number;
  readonly maxTempDeciC: number;
  readonly mode: string;
}

const FIELDS = ['count', 'sumMv', 'minSoc', 'maxTemp', 'lastTs', 'lastSeq', 'mode'] as const;
type BatteryAcc = Record<(typeof FIELDS)[number], number>;

const batteryAggregate: AggregateFunction<FleetElement, BatteryAcc, Battery> = {
  create: () => ({
    count: 0,
    sumMv: 0,
    minSoc: Infinity,
    maxTemp: -Infinity,
    lastTs: -Infinity,
    lastSeq: -1,
    mode: 0,
  }),
  add(acc, e) {
    const s = e as TelemetrySample;
    acc.count++;
    acc.sumMv += s.voltageMv;
    if (s.socPermille < acc.minSoc) acc.minSoc = s.socPermille;
    if (s.batteryTempDeciC > acc.maxTemp) acc.maxTemp = s.batteryTempDeciC;
    if (s.eventTime > acc.lastTs || (s.eventTime === acc.lastTs && s.seq > acc.lastSeq)) {
      acc.lastTs = s.eventTime;
      acc.lastSeq = s.seq;
      acc.mode = ROBOT_MODES.indexOf(s.mode);
    }
    return acc;
  },
  result: (acc) => ({
    samples: acc.count,
    avgVoltageMv: Math.round(acc.sumMv / acc.count),
    minSocPermille: acc.minSoc,
    maxTempDeciC: acc.maxTemp,
    mode: ROBOT_MODES[acc.mode] ?? 'idle',
  }),
};

export const battery1m = tumblingWindows<FleetElement, BatteryAcc, Battery>({
  name: 'battery_1m',
  sizeMs: 60_000,
  aggregate: batteryAggregate,
  accCodec: structCodec(FIELDS),
  filter: (e) => e.kind === 'telemetry',
});

export const threeTimeouts = compile(
  Pattern.begin<AckEvent>('timeouts', { skip: skipPastLastEvent() })
    .where((a) => a.o === 'timeout')
    .times(3)
    .until((a) => a.o === 'completed')
    .within(10 * 60_000),
  { position: (a) => a.c },
);

const cepState: StateDescriptor<CepState<AckEvent>> = {
  name: `three_timeouts_${threeTimeouts.fingerprint}`.toLowerCase().replace(/[^a-z0-9_]/g, '_'),
  kind: 'value',
  codec: jsonCodec<CepState<AckEvent>>(),
};

/** The CEP pattern as a keyed operator: state only while a partial match is open, one timer for its expiry. */
export const commandAlerts = operator<FleetElement, { readonly commands: readonly string[] }>(
  'command_alerts',
  {
    processElement(e, ctx) {
      if (e.kind !== 'ack') return;
      const state = ctx.state.value(cepState);
      const before = state.get() ?? initialState<AckEvent>();
      const r = advance(threeTimeouts, before, e, ctx.timestamp);
      for (const m of r.matches) ctx.emit({ commands: (m.events['timeouts'] ?? []).map((a) => a.c) }, m.id);
      if (r.state !== before) {
        if (isIdle(r.state)) state.clear();
        else state.set(r.state);
      }
      const due = nextTimer(threeTimeouts, r.state);
      if (due !== undefined) ctx.timers.registerEventTime(due);
    },
    onTimer(_t, ctx) {
      const state = ctx.state.value(cepState);
      const before = state.get();
      if (before === undefined) return;
      const r = advanceTime(threeTimeouts, before, ctx.watermark);
      for (const m of r.matches) ctx.emit({ commands: (m.events['timeouts'] ?? []).map((a) => a.c) }, m.id);
      if (r.state !== before) {
        if (isIdle(r.state)) state.clear();
        else state.set(r.state);
      }
      const due = nextTimer(threeTimeouts, r.state);
      if (due !== undefined) ctx.timers.registerEventTime(due);
    },
  },
);

function ackEvent(a: CommandAck): AckEvent {
  return { kind: 'ack', c: a.commandId, o: a.outcome };
}

export const fleetJob = defineJob<FleetElement>({
  name: 'fleet_bench',
  read(record: TaskRecord, out) {
    const v = record.value;
    if (record.topic === TELEMETRY) {
      const batch = v instanceof Uint8Array ? decodeTelemetryBatch(v) : (v as TelemetryBatch);
      for (const s of batch.samples) out.element(batch.robotId, s.eventTime, s);
    } else if (record.topic === ACKS) {
      const m = v instanceof Uint8Array ? decodeMessage(v) : (v as CommandAck);
      if (m.kind === 'command_ack') out.element(m.robotId, m.robotTime, ackEvent(m));
    }
  },
  operators: [battery1m, commandAlerts],
});
