-- Raw telemetry samples, one row per sample a robot produced (libs/protocol TelemetrySample).
-- Units are in the column names, as in the protocol: integers, never floats, so values round-trip.
--
-- Identity and replays: a sample is identified by (robot_id, boot_id, seq). event_time is part of
-- the primary key only because a TimescaleDB hypertable requires every unique index to contain its
-- partitioning column (see 0001_telemetry_samples.timescale.sql); both variants keep the SAME key
-- so writers use one statement: INSERT ... ON CONFLICT (robot_id, boot_id, seq, event_time) DO NOTHING.
-- That is as strong as a key on (robot_id, boot_id, seq) because event_time is a function of the
-- identity: the agent stamps the corrected event time once, before it spools the sample, and every
-- copy (MQTT QoS1 redelivery, Kafka replay, checkpoint restore) carries the same bytes.
CREATE TABLE telemetry_samples (
  robot_id            text        NOT NULL,
  -- u32 values do not fit PostgreSQL's signed integer, hence bigint with a range check.
  boot_id             bigint      NOT NULL CHECK (boot_id BETWEEN 0 AND 4294967295),
  seq                 bigint      NOT NULL CHECK (seq BETWEEN 0 AND 4294967295),
  event_time          timestamptz NOT NULL,
  site_id             text        NOT NULL,
  voltage_mv          integer     NOT NULL CHECK (voltage_mv BETWEEN 0 AND 65535),
  -- positive discharges, negative charges
  current_ma          integer     NOT NULL,
  soc_permille        smallint    NOT NULL CHECK (soc_permille BETWEEN 0 AND 1000),
  battery_temp_deci_c smallint    NOT NULL,
  cycle_count         integer     NOT NULL CHECK (cycle_count BETWEEN 0 AND 65535),
  x_mm                integer     NOT NULL,
  y_mm                integer     NOT NULL,
  -- 0.01 degree, 0..35999 (does not fit smallint)
  heading_cdeg        integer     NOT NULL CHECK (heading_cdeg BETWEEN 0 AND 35999),
  speed_mm_s          smallint    NOT NULL,
  dirt_level          smallint    NOT NULL CHECK (dirt_level BETWEEN 0 AND 255),
  mode                text        NOT NULL CHECK (mode IN ('idle', 'cleaning', 'moving', 'docking', 'charging', 'error')),
  -- bitset of ErrorFlag (u32)
  error_flags         bigint      NOT NULL CHECK (error_flags BETWEEN 0 AND 4294967295),
  PRIMARY KEY (robot_id, boot_id, seq, event_time)
);

-- A robot's history over a time range (API, battery analysis).
CREATE INDEX telemetry_samples_robot_time_idx ON telemetry_samples (robot_id, event_time DESC);
