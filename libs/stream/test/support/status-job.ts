/**
 * The README's example job: per robot, a 1-minute status (average battery voltage, distance
 * travelled, mode at the end of the window), plus helpers to build its input.
 */
import { ROBOT_MODES, type Presence, type RobotMode, type TelemetrySample } from '@fleet/protocol';
import { structCodec, type AggregateFunction } from '@fleet/state';
import {
  defineJob,
  sessionWindows,
  slidingWindows,
  tumblingWindows,
  type Operator,
  type TaskRecord,
} from '../../src/index.js';

export interface Status {
  readonly samples: number;
  readonly avgVoltageMv: number;
  /** Mean ground speed times the time the samples span: order-independent, so replays agree. */
  readonly distanceMm: number;
  /** Mode of the latest sample (by event time, then sequence number). */
  readonly mode: RobotMode;
}

const FIELDS = ['count', 'sumMv', 'sumAbsSpeed', 'firstTs', 'lastTs', 'lastSeq', 'mode'] as const;
export type StatusAcc = Record<(typeof FIELDS)[number], number>;
export const statusAccCodec = structCodec(FIELDS);

export const statusAggregate: AggregateFunction<TelemetrySample, StatusAcc, Status> = {
  create: () => ({
    count: 0,
    sumMv: 0,
    sumAbsSpeed: 0,
    firstTs: Infinity,
    lastTs: -Infinity,
    lastSeq: -1,
    mode: 0,
  }),
  add(acc, s) {
    acc.count++;
    acc.sumMv += s.voltageMv;
    acc.sumAbsSpeed += Math.abs(s.speedMmS);
    if (s.eventTime < acc.firstTs) acc.firstTs = s.eventTime;
    if (s.eventTime > acc.lastTs || (s.eventTime === acc.lastTs && s.seq > acc.lastSeq)) {
      acc.lastTs = s.eventTime;
      acc.lastSeq = s.seq;
      acc.mode = ROBOT_MODES.indexOf(s.mode);
    }
    return acc;
  },
  merge(a, b) {
    const later = b.lastTs > a.lastTs || (b.lastTs === a.lastTs && b.lastSeq > a.lastSeq) ? b : a;
    return {
      count: a.count + b.count,
      sumMv: a.sumMv + b.sumMv,
      sumAbsSpeed: a.sumAbsSpeed + b.sumAbsSpeed,
      firstTs: Math.min(a.firstTs, b.firstTs),
      lastTs: later.lastTs,
      lastSeq: later.lastSeq,
      mode: later.mode,
    };
  },
  result: (acc) => ({
    samples: acc.count,
    avgVoltageMv: Math.round(acc.sumMv / acc.count),
    distanceMm: Math.round(((acc.sumAbsSpeed / acc.count) * (acc.lastTs - acc.firstTs)) / 1000),
    mode: ROBOT_MODES[acc.mode] ?? 'idle',
  }),
};

export type Input = TelemetrySample;

/** Reads telemetry samples (one per record) and presence; anything else is not this job's. */
export function readFleet(
  record: TaskRecord,
  out: { element(k: string, t: number, v: Input): void; presence(k: string, online: boolean): void },
): void {
  const m = record.value as TelemetrySample | Presence;
  if (m.kind === 'telemetry') out.element(m.robotId, m.eventTime, m);
  else if (m.kind === 'presence') out.presence(m.robotId, m.online);
}

export const status1m = tumblingWindows({
  name: 'status_1m',
  sizeMs: 60_000,
  aggregate: statusAggregate,
  accCodec: statusAccCodec,
});

export function jobWith(...operators: Operator<Input, unknown>[]) {
  return defineJob<Input>({ name: 'fleet', read: readFleet, operators });
}

export const statusJob = jobWith(status1m);

export const sliding = slidingWindows({
  name: 'status_sliding',
  sizeMs: 60_000,
  slideMs: 30_000,
  aggregate: statusAggregate,
  accCodec: statusAccCodec,
});

export const sessions = sessionWindows({
  name: 'cleaning_sessions',
  gapMs: 10_000,
  aggregate: statusAggregate,
  accCodec: statusAccCodec,
});

/** A telemetry sample of robot `robotId` at `eventTime` (other fields plausible defaults). */
export function sample(eventTime: number, over: Partial<TelemetrySample> = {}): TelemetrySample {
  return {
    kind: 'telemetry',
    robotId: 'r-1',
    bootId: 1,
    seq: eventTime % 0x1_0000_0000, // deterministic, so scenarios replay identically
    eventTime,
    voltageMv: 14_400,
    currentMa: 1200,
    socPermille: 800,
    batteryTempDeciC: 250,
    cycleCount: 12,
    siteId: 'site-a',
    xMm: 0,
    yMm: 0,
    headingCdeg: 0,
    speedMmS: 300,
    dirtLevel: 0,
    mode: 'cleaning',
    errorFlags: 0,
    ...over,
  };
}

export function presence(robotId: string, online: boolean, at: number): Presence {
  return { kind: 'presence', robotId, online, reason: online ? 'connected' : 'last_will', at };
}
