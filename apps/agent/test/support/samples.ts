/** Builders of frames and messages for the agent's tests. */
import type { SerialSampleFrame, TelemetrySample } from '@fleet/protocol';

export function sampleFrame(bootId: number, seq: number, robotTime: number): SerialSampleFrame {
  return {
    type: 'sample',
    bootId,
    seq,
    robotTime,
    voltageMv: 14_800 - (seq % 100),
    currentMa: 1200,
    socPermille: 800,
    batteryTempDeciC: 312,
    cycleCount: 42,
    xMm: seq * 10,
    yMm: 0 - seq * 5,
    headingCdeg: (seq * 7) % 36_000,
    speedMmS: 250,
    dirtLevel: seq % 256,
    mode: 'cleaning',
    errorFlags: 0,
  };
}

export function telemetrySample(
  robotId: string,
  siteId: string,
  bootId: number,
  seq: number,
  eventTime: number,
): TelemetrySample {
  const { type: _type, robotTime: _robotTime, ...measured } = sampleFrame(bootId, seq, eventTime);
  return { kind: 'telemetry', robotId, siteId, eventTime, ...measured };
}
