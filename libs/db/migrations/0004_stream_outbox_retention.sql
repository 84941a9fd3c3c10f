-- Outbox retention (issue #5): published outbox rows are deleted once older than the instance's
-- outbox retention (StreamInstanceOptions.outboxRetentionMs, default 1 h), per owned partition.
-- A replay starts at the last checkpoint, so it never recreates an id committed (and published)
-- before it; the rows are kept a while only for inspection.
CREATE INDEX stream_outbox_published_idx ON stream_outbox (job, partition, published_at)
  WHERE published_at IS NOT NULL;
