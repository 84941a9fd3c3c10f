-- TimescaleDB companion of 0001_telemetry_samples.sql (applied only where the extension exists,
-- after CREATE EXTENSION IF NOT EXISTS timescaledb; needs TimescaleDB >= 2.13 for by_range).
-- Partitions the table into 1-day chunks of event_time. The primary key already contains
-- event_time, as a hypertable requires. migrate_data: the extension may be installed after rows
-- were written without it; the companion is then applied on the next start and moves them.
SELECT create_hypertable(
  'telemetry_samples',
  by_range('event_time', INTERVAL '1 day'),
  if_not_exists => TRUE,
  migrate_data => TRUE
);
