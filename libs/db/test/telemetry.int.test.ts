/**
 * Integration: telemetry_samples (migration 0001) on a real PostgreSQL. Replays — QoS1
 * redelivery, Kafka re-reads after a restore — must never duplicate a sample.
 */
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/migrations.js';
import { createPool } from '../src/pool.js';
import { testServer, type TestServer } from './fixture.js';

let server: TestServer;
let drop: () => Promise<void>;
let pool: Pool;

beforeAll(async () => {
  server = await testServer();
  const db = await server.database('telemetry');
  drop = db.drop;
  pool = createPool({ url: db.url, max: 4 });
  await migrate(pool);
});
afterAll(async () => {
  await pool?.end();
  await drop?.();
  await server?.stop();
});

const COLUMNS = [
  'robot_id',
  'boot_id',
  'seq',
  'event_time',
  'site_id',
  'voltage_mv',
  'current_ma',
  'soc_permille',
  'battery_temp_deci_c',
  'cycle_count',
  'x_mm',
  'y_mm',
  'heading_cdeg',
  'speed_mm_s',
  'dirt_level',
  'mode',
  'error_flags',
] as const;

type Column = (typeof COLUMNS)[number];
type Row = readonly unknown[];

/** A sample's row in COLUMNS order, with the protocol's extreme values where that is interesting. */
function sample(
  robotId: string,
  bootId: number,
  seq: number,
  overrides: Partial<Record<Column, unknown>> = {},
): Row {
  const values: Record<Column, unknown> = {
    robot_id: robotId,
    boot_id: bootId,
    seq,
    event_time: new Date(1_767_225_600_000 + seq * 100),
    site_id: 'site-1',
    voltage_mv: 14_800,
    current_ma: -1200,
    soc_permille: 870,
    battery_temp_deci_c: 251,
    cycle_count: 42,
    x_mm: 1000 + seq,
    y_mm: -2000,
    heading_cdeg: 35_999,
    speed_mm_s: -150,
    dirt_level: 17,
    mode: 'cleaning',
    error_flags: 2 ** 32 - 1,
    ...overrides,
  };
  return COLUMNS.map((c) => values[c]);
}

/** One multi-row INSERT ... ON CONFLICT DO NOTHING, as the stream's sink writes batches. */
async function insert(rows: readonly Row[]): Promise<number> {
  const values = rows
    .map((_, r) => `(${COLUMNS.map((__, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`)
    .join(', ');
  const result = await pool.query(
    `INSERT INTO telemetry_samples (${COLUMNS.join(', ')}) VALUES ${values}
     ON CONFLICT (robot_id, boot_id, seq, event_time) DO NOTHING`,
    rows.flat(),
  );
  return result.rowCount ?? 0;
}

async function count(robotId: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM telemetry_samples WHERE robot_id = $1',
    [robotId],
  );
  return Number(rows[0]?.n);
}

describe('telemetry_samples', () => {
  it('keeps one row when the same sample is inserted again', async () => {
    expect(await insert([sample('r-dup', 7, 1)])).toBe(1);
    expect(await insert([sample('r-dup', 7, 1)])).toBe(0);
    expect(await count('r-dup')).toBe(1);
  });

  it('never duplicates when a batch is replayed, overlapping and concurrently', async () => {
    const batch = Array.from({ length: 200 }, (_, i) => sample('r-replay', 1, i));
    // first delivery, then two concurrent replays that overlap it and each other
    expect(await insert(batch.slice(0, 150))).toBe(150);
    const inserted = await Promise.all([insert(batch.slice(100)), insert(batch.slice(50)), insert(batch)]);
    expect(inserted.reduce((a, b) => a + b, 0)).toBe(50);
    expect(await count('r-replay')).toBe(200);
  });

  it('keeps the same seq from different boots apart', async () => {
    expect(await insert([sample('r-boots', 1, 5), sample('r-boots', 2, 5)])).toBe(2);
    expect(await count('r-boots')).toBe(2);
  });

  it('stores u32 boot ids, sequence numbers and error flags exactly', async () => {
    const max = 2 ** 32 - 1;
    await insert([sample('r-u32', max, max, { x_mm: 0 })]);
    const { rows } = await pool.query<{ boot_id: string; seq: string; error_flags: string }>(
      "SELECT boot_id, seq, error_flags FROM telemetry_samples WHERE robot_id = 'r-u32'",
    );
    expect(rows).toEqual([{ boot_id: String(max), seq: String(max), error_flags: String(max) }]);
  });

  it('rejects values outside the protocol ranges', async () => {
    await expect(insert([sample('r-bad', 1, 1, { mode: 'dancing' })])).rejects.toThrow(
      /telemetry_samples_mode_check/,
    );
    await expect(insert([sample('r-bad', 1, 2, { soc_permille: 1001 })])).rejects.toThrow(
      /telemetry_samples_soc_permille_check/,
    );
    await expect(insert([sample('r-bad', 1, 3, { seq: 2 ** 32 })])).rejects.toThrow(
      /telemetry_samples_seq_check/,
    );
    expect(await count('r-bad')).toBe(0);
  });
});
