/**
 * Writes decoded telemetry samples to `telemetry_samples` (migration 0001).
 *
 * One statement per call: every column travels as one array parameter and `unnest` turns them back
 * into rows, so a batch of thousands of samples is one round trip and one plan. Replays (QoS 1
 * redelivery, a Kafka re-read after a restore) hit the primary key and are dropped by
 * `ON CONFLICT DO NOTHING`; the returned count is the number of samples that were new.
 */
import type { TelemetrySample } from '@fleet/protocol';
import type { Pool, PoolClient } from 'pg';

type Queryable = Pick<Pool | PoolClient, 'query'>;

const INSERT = `
INSERT INTO telemetry_samples (
  robot_id, boot_id, seq, event_time, site_id, voltage_mv, current_ma, soc_permille,
  battery_temp_deci_c, cycle_count, x_mm, y_mm, heading_cdeg, speed_mm_s, dirt_level, mode, error_flags)
SELECT robot_id, boot_id, seq, timestamptz 'epoch' + event_ms * interval '1 millisecond', site_id, voltage_mv, current_ma,
       soc_permille, battery_temp_deci_c, cycle_count, x_mm, y_mm, heading_cdeg, speed_mm_s,
       dirt_level, mode, error_flags
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::int[], $7::int[],
            $8::smallint[], $9::smallint[], $10::int[], $11::int[], $12::int[], $13::int[],
            $14::smallint[], $15::smallint[], $16::text[], $17::bigint[])
  AS s(robot_id, boot_id, seq, event_ms, site_id, voltage_mv, current_ma, soc_permille,
       battery_temp_deci_c, cycle_count, x_mm, y_mm, heading_cdeg, speed_mm_s, dirt_level, mode, error_flags)
ON CONFLICT (robot_id, boot_id, seq, event_time) DO NOTHING`;

/**
 * Inserts the samples that are not stored yet; returns how many were new.
 *
 * @example
 * const batch = decodeTelemetryBatch(record.value);
 * const added = await insertTelemetrySamples(client, batch.samples);
 */
export async function insertTelemetrySamples(
  db: Queryable,
  samples: readonly TelemetrySample[],
): Promise<number> {
  if (samples.length === 0) return 0;
  const columns: unknown[][] = Array.from({ length: 17 }, () => new Array<unknown>(samples.length));
  samples.forEach((s, i) => {
    const row = [
      s.robotId,
      s.bootId,
      s.seq,
      s.eventTime,
      s.siteId,
      s.voltageMv,
      s.currentMa,
      s.socPermille,
      s.batteryTempDeciC,
      s.cycleCount,
      s.xMm,
      s.yMm,
      s.headingCdeg,
      s.speedMmS,
      s.dirtLevel,
      s.mode,
      s.errorFlags,
    ];
    row.forEach((value, c) => {
      (columns[c] as unknown[])[i] = value;
    });
  });
  const result = await db.query(INSERT, columns);
  return result.rowCount ?? 0;
}
