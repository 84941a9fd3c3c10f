-- Keyed state as a log of binary segments (issue #5: 100k keys checkpointed in < 1 s). A
-- checkpoint appends the state changes since the previous one as one segment (rows of at most
-- 8 MiB, layout in libs/stream/src/runtime/state-segments.ts) instead of upserting one row per
-- entry; a restore replays a partition's segments in `seq` order (after any rows left in
-- stream_state by earlier versions); compaction rewrites them as the live entries. Every write is
-- in the partition's epoch-guarded checkpoint transaction (0003_stream_runtime.sql).
CREATE TABLE stream_state_segments (
  job           text    NOT NULL,
  partition     integer NOT NULL,
  seq           bigint  NOT NULL,
  -- The checkpoint that appended it; NULL for a compacted segment.
  checkpoint_id bigint,
  data          bytea   NOT NULL,
  PRIMARY KEY (job, partition, seq)
);
-- Binary state compresses poorly and pglz would cost CPU on every checkpoint: store it as is.
ALTER TABLE stream_state_segments ALTER COLUMN data SET STORAGE EXTERNAL;

-- The task state (watermarks and timers of every key) is replaced whole at every checkpoint and
-- only ever read back whole: `json` keeps the text as sent, where `jsonb` parsed several MB into its
-- binary form on every commit (measured: 2.2 MB in 123 ms as jsonb, 44 ms as json).
ALTER TABLE stream_task_state ALTER COLUMN task_state TYPE json USING task_state::json;
