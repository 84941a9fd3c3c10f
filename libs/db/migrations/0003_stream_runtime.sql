-- The stream runtime's checkpoint store (libs/stream/src/runtime, issue #5; design.md "Exactly-once").
--
-- A partition of a job (= its key group) is owned by one instance at a time. Claiming it increments
-- `epoch`; every checkpoint of the owner runs in ONE transaction that begins with
--   UPDATE stream_ownership SET ... WHERE job = $1 AND partition = $2 AND epoch = $3 AND owner = $4
-- and rolls back when that matches no row: a claim by another instance has fenced this one (a zombie
-- after a pause or a network split can never commit). The UPDATE also takes the row lock, so a
-- concurrent claim waits for the checkpoint to commit and the new owner restores it.
--
-- Everything a checkpoint writes is idempotent, so a replay from the previous checkpoint after a
-- failover rewrites rows instead of duplicating them: state entries are upserts/deletes, outputs are
-- keyed by their deterministic id (keeping the highest revision), late rows and outbox rows are
-- insert-if-absent.

-- Live instances of a job (lease membership): an instance heartbeats `heartbeat_at = now()`; one
-- whose heartbeat is older than the session timeout is dead, and its partitions may be claimed.
CREATE TABLE stream_instances (
  job          text        NOT NULL,
  instance_id  text        NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, instance_id)
);

CREATE TABLE stream_ownership (
  job        text        NOT NULL,
  partition  integer     NOT NULL CHECK (partition >= 0),
  -- Incremented by every claim; the owner's checkpoints carry the epoch they claimed with.
  epoch      bigint      NOT NULL DEFAULT 0 CHECK (epoch >= 0),
  -- NULL once released (on revocation, after the final checkpoint).
  owner      text,
  claimed_at timestamptz,
  -- The owner's last successful checkpoint.
  heartbeat_at timestamptz,
  PRIMARY KEY (job, partition)
);

-- Keyed state, merged over all checkpoints (incremental: puts upsert, deletes remove).
CREATE TABLE stream_state (
  job        text    NOT NULL,
  partition  integer NOT NULL,
  name       text    NOT NULL,
  key        text    NOT NULL,
  user_key   text    NOT NULL,
  value      bytea   NOT NULL,
  -- Time of the last write (event time, ms), for TTL.
  written_at bigint  NOT NULL,
  PRIMARY KEY (job, partition, name, key, user_key)
);

-- Next offset to read per input topic (last processed + 1).
CREATE TABLE stream_offsets (
  job         text    NOT NULL,
  partition   integer NOT NULL,
  topic       text    NOT NULL,
  next_offset bigint  NOT NULL CHECK (next_offset >= 0),
  PRIMARY KEY (job, partition, topic)
);

-- The task state of the last checkpoint (watermarks, timers, counters), replaced whole.
CREATE TABLE stream_task_state (
  job           text        NOT NULL,
  partition     integer     NOT NULL,
  task_state    jsonb       NOT NULL,
  -- 1, 2, ... per partition, continued by every new owner.
  checkpoint_id bigint      NOT NULL CHECK (checkpoint_id > 0),
  epoch         bigint      NOT NULL,
  committed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, partition)
);

-- One row per committed checkpoint (figures: duration, size; and proof of what was committed).
CREATE TABLE stream_checkpoints (
  job           text        NOT NULL,
  partition     integer     NOT NULL,
  checkpoint_id bigint      NOT NULL,
  epoch         bigint      NOT NULL,
  owner         text        NOT NULL,
  state_changes integer     NOT NULL,
  state_bytes   bigint      NOT NULL,
  outputs       integer     NOT NULL,
  duration_ms   double precision NOT NULL,
  committed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, partition, checkpoint_id)
);

-- One row per restore on assignment: which checkpoint it started from (0 = none) and how long it took.
CREATE TABLE stream_restores (
  job           text        NOT NULL,
  partition     integer     NOT NULL,
  epoch         bigint      NOT NULL,
  owner         text        NOT NULL,
  checkpoint_id bigint      NOT NULL,
  entries       integer     NOT NULL,
  duration_ms   double precision NOT NULL,
  restored_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, partition, epoch)
);

-- Outputs of every job (generic for now; one results table per output type may follow).
-- Upserted by id keeping the highest revision: all revisions of a window share one id.
CREATE TABLE stream_outputs (
  job        text        NOT NULL,
  id         text        NOT NULL,
  -- 'emit' | 'side'
  type       text        NOT NULL,
  operator   text        NOT NULL,
  -- Side-output tag, '' for emits.
  tag        text        NOT NULL DEFAULT '',
  key        text        NOT NULL,
  -- Window result kind (provisional | final | corrected | retracted), NULL for other emits.
  kind       text,
  revision   integer     NOT NULL DEFAULT 0,
  event_time bigint      NOT NULL,
  payload    jsonb       NOT NULL,
  partition  integer     NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, id)
);

-- The late-data side output (design.md "Event time": table and topic, with the reason).
CREATE TABLE stream_late_data (
  job        text        NOT NULL,
  id         text        NOT NULL,
  reason     text        NOT NULL,
  key        text        NOT NULL,
  topic      text        NOT NULL,
  partition  integer     NOT NULL,
  "offset"   bigint      NOT NULL,
  -- NULL for reason invalid_event_time when the value was not a finite number.
  event_time double precision,
  watermark  bigint      NOT NULL,
  payload    jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, id)
);

-- What must leave for Kafka (or webhooks), written in the checkpoint's transaction and published
-- after it commits, at least once: `id` is deterministic so consumers dedupe.
CREATE TABLE stream_outbox (
  id           text        PRIMARY KEY,
  job          text        NOT NULL,
  partition    integer     NOT NULL,
  topic        text        NOT NULL,
  key          text        NOT NULL,
  value        bytea       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);

CREATE INDEX stream_outbox_pending_idx ON stream_outbox (job, partition, created_at) WHERE published_at IS NULL;
