import type { TelemetrySample } from '@fleet/protocol';

/** `count` valid samples of one robot and boot, seq `firstSeq`.., 100 ms apart. */
export function samples(
  robotId: string,
  siteId: string,
  bootId: number,
  firstSeq: number,
  count: number,
): TelemetrySample[] {
  const base = Date.now() - 60_000;
  return Array.from({ length: count }, (_, i) => ({
    kind: 'telemetry' as const,
    robotId,
    bootId,
    seq: firstSeq + i,
    eventTime: base + (firstSeq + i) * 100,
    voltageMv: 14_400,
    currentMa: 1200,
    socPermille: 800,
    batteryTempDeciC: 310,
    cycleCount: 42,
    siteId,
    xMm: 1000 + i,
    yMm: 2000,
    headingCdeg: 9000,
    speedMmS: 250,
    dirtLevel: 12,
    mode: 'cleaning' as const,
    errorFlags: 0,
  }));
}
