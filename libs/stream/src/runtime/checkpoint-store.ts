/**
 * The checkpoint store in PostgreSQL (tables of libs/db/migrations/0003_stream_runtime.sql).
 *
 * Fencing: `claim()` increments the partition's epoch in one UPDATE, so a new owner fences every
 * previous one. `commit()` runs ONE transaction per partition per checkpoint whose first statement is
 *   UPDATE stream_ownership SET heartbeat_at = now() WHERE job AND partition AND epoch = $mine AND owner = $me
 * 0 rows: a newer claim exists; the transaction rolls back and `FencedError` is thrown. 1 row: this
 * transaction now holds the ownership row's lock until COMMIT, so a concurrent claim waits for it and
 * the new owner restores what this checkpoint committed (never a state older than its outputs).
 * Then, in the same transaction: state changes (appended as one binary segment, ./state-segments.ts),
 * outputs (upsert by id, keeping the highest revision), late rows and outbox rows
 * (insert-if-absent), offsets, task state. `compact()` rewrites a partition's segments as its live
 * entries, under the same guard.
 */
import { withTransaction } from '@fleet/db';
import type { StateChange } from '@fleet/state';
import type { DbClient as PoolClient, DbPool as Pool } from './db-types.js';
import type { TaskCheckpoint, TaskStateSnapshot } from '../task/partition-task.js';
import type { EmitOutput, LateOutput, SideOutput } from '../task/outputs.js';
import { FencedError } from './errors.js';
import { toJson } from './json.js';
import { encodeSegments, entrySize, SEGMENT_HEADER_BYTES, StateMerge } from './state-segments.js';

/** A message for another system, written with the checkpoint and published after it commits. */
export interface OutboxMessage {
  /** Deterministic (e.g. `<output id>#<revision>`), so a replay inserts nothing new. */
  readonly id: string;
  readonly topic: string;
  readonly key: string;
  readonly value: Uint8Array;
}

export interface OutboxRow extends OutboxMessage {
  readonly partition: number;
}

export interface Claim {
  readonly job: string;
  readonly partition: number;
  readonly owner: string;
  readonly epoch: bigint;
}

export interface StoredCheckpoint {
  /** 0n when the partition has never been checkpointed. */
  readonly checkpointId: bigint;
  readonly entries: StateChange[];
  /** State segments (rows) the entries were merged from, and their bytes: for compaction. */
  readonly segments: number;
  readonly segmentBytes: number;
  /** Bytes of the live entries' segment form (what a compaction writes). */
  readonly liveBytes: number;
  readonly taskState: TaskStateSnapshot | undefined;
  readonly offsets: Readonly<Record<string, bigint>>;
}

export interface CommitResult {
  readonly stateBytes: number;
  /** State segment rows written and their bytes (0 when no state changed). */
  readonly segments: number;
  readonly segmentBytes: number;
  readonly durationMs: number;
}

export interface CompactResult {
  /** Segment rows (and legacy per-entry rows) replaced, and the rows written. */
  readonly replaced: number;
  readonly written: number;
  readonly entries: number;
  readonly liveBytes: number;
  readonly durationMs: number;
}

export interface CheckpointStoreOptions {
  /** Largest state segment row; a checkpoint's changes are split into rows of at most this. Default 8 MiB. */
  readonly maxSegmentBytes?: number;
}

export interface ClaimOptions {
  /** An owner whose instance heartbeat is older than this is dead: its partitions may be taken. */
  readonly sessionTimeoutMs: number;
}

export class PgCheckpointStore {
  private readonly maxSegmentBytes: number;

  constructor(
    private readonly pool: Pool,
    options: CheckpointStoreOptions = {},
  ) {
    this.maxSegmentBytes = options.maxSegmentBytes ?? 8 * 1024 * 1024;
  }

  /**
   * Takes the partition for `owner` if it is free (never owned, released), already `owner`'s, or
   * held by an instance whose heartbeat is older than the session timeout. Returns the new epoch,
   * or undefined when a live instance still holds it (it releases on revocation; try again later).
   */
  async claim(
    job: string,
    partition: number,
    owner: string,
    options: ClaimOptions,
  ): Promise<Claim | undefined> {
    await this.pool.query(
      'INSERT INTO stream_ownership (job, partition) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [job, partition],
    );
    const { rows } = await this.pool.query<{ epoch: string }>(
      `UPDATE stream_ownership o
          SET epoch = o.epoch + 1, owner = $3, claimed_at = now(), heartbeat_at = now()
        WHERE o.job = $1 AND o.partition = $2
          AND (o.owner IS NULL OR o.owner = $3 OR NOT EXISTS (
                SELECT 1 FROM stream_instances i
                 WHERE i.job = o.job AND i.instance_id = o.owner
                   AND i.heartbeat_at > now() - make_interval(secs => $4::double precision / 1000)))
        RETURNING o.epoch::text AS epoch`,
      [job, partition, owner, options.sessionTimeoutMs],
    );
    const row = rows[0];
    return row === undefined ? undefined : { job, partition, owner, epoch: BigInt(row.epoch) };
  }

  /** Gives the partition up after its final checkpoint (only while still the owner of that epoch). */
  async release(claim: Claim): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE stream_ownership SET owner = NULL
        WHERE job = $1 AND partition = $2 AND epoch = $3 AND owner = $4`,
      [claim.job, claim.partition, claim.epoch.toString(), claim.owner],
    );
    return rowCount === 1;
  }

  /** Loads what the last committed checkpoint left: merged state entries, task state, offsets. */
  async load(job: string, partition: number): Promise<StoredCheckpoint> {
    const client = await this.pool.connect();
    try {
      // One snapshot for the three reads (a checkpoint committing meanwhile is seen wholly or not).
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const task = await client.query<{ task_state: TaskStateSnapshot; checkpoint_id: string }>(
        'SELECT task_state, checkpoint_id::text AS checkpoint_id FROM stream_task_state WHERE job = $1 AND partition = $2',
        [job, partition],
      );
      const offsets = await client.query<{ topic: string; next_offset: string }>(
        'SELECT topic, next_offset::text AS next_offset FROM stream_offsets WHERE job = $1 AND partition = $2',
        [job, partition],
      );
      const merged = await readState(client, job, partition);
      await client.query('COMMIT');
      const t = task.rows[0];
      return {
        checkpointId: t === undefined ? 0n : BigInt(t.checkpoint_id),
        taskState: t?.task_state,
        offsets: Object.fromEntries(offsets.rows.map((r) => [r.topic, BigInt(r.next_offset)])),
        entries: merged.entries,
        segments: merged.rows,
        segmentBytes: merged.bytes,
        liveBytes: merged.liveBytes,
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Records a restore (which checkpoint it started from and how long it took). */
  async recordRestore(
    claim: Claim,
    checkpointId: bigint,
    entries: number,
    durationMs: number,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO stream_restores (job, partition, epoch, owner, checkpoint_id, entries, duration_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [
        claim.job,
        claim.partition,
        claim.epoch.toString(),
        claim.owner,
        checkpointId.toString(),
        entries,
        durationMs,
      ],
    );
  }

  /**
   * Commits one checkpoint of one partition in ONE transaction, guarded by the claim's epoch.
   * Throws {@link FencedError} (after rolling back) when a newer claim exists.
   */
  async commit(
    claim: Claim,
    checkpointId: bigint,
    cp: TaskCheckpoint,
    outbox: readonly OutboxMessage[],
  ): Promise<CommitResult> {
    const started = performance.now();
    const { job, partition } = claim;
    let written = { stateBytes: 0, segments: 0, segmentBytes: 0 };
    await withTransaction(this.pool, async (client) => {
      await guard(client, claim);
      written = await writeState(client, job, partition, checkpointId, cp.stateChanges, this.maxSegmentBytes);
      await writeOutputs(client, job, partition, cp);
      await writeOutbox(client, job, partition, outbox);
      const topics = Object.keys(cp.offsets);
      if (topics.length > 0) {
        await client.query(
          `INSERT INTO stream_offsets (job, partition, topic, next_offset)
           SELECT $1, $2, t, o FROM unnest($3::text[], $4::bigint[]) AS u(t, o)
           ON CONFLICT (job, partition, topic) DO UPDATE SET next_offset = EXCLUDED.next_offset`,
          [job, partition, topics, topics.map((t) => (cp.offsets[t] as bigint).toString())],
        );
      }
      await client.query(
        `INSERT INTO stream_task_state (job, partition, task_state, checkpoint_id, epoch, committed_at)
         VALUES ($1, $2, $3::json, $4, $5, now())
         ON CONFLICT (job, partition) DO UPDATE SET task_state = EXCLUDED.task_state,
           checkpoint_id = EXCLUDED.checkpoint_id, epoch = EXCLUDED.epoch, committed_at = now()`,
        [job, partition, toJson(cp.taskState), checkpointId.toString(), claim.epoch.toString()],
      );
      await client.query(
        `INSERT INTO stream_checkpoints
           (job, partition, checkpoint_id, epoch, owner, state_changes, state_bytes, outputs, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          job,
          partition,
          checkpointId.toString(),
          claim.epoch.toString(),
          claim.owner,
          cp.stateChanges.length,
          written.stateBytes,
          cp.outputs.length,
          performance.now() - started,
        ],
      );
    });
    return { ...written, durationMs: performance.now() - started };
  }

  /**
   * Rewrites the partition's state segments as its live entries (what a restore would build), in
   * ONE transaction guarded like a commit, so a restore reads fewer, smaller rows. `FencedError`
   * when a newer claim exists.
   */
  async compact(claim: Claim): Promise<CompactResult> {
    const started = performance.now();
    const { job, partition } = claim;
    let result = { replaced: 0, written: 0, entries: 0, liveBytes: 0 };
    await withTransaction(this.pool, async (client) => {
      await guard(client, claim);
      const merged = await readState(client, job, partition);
      const last = await lastSeq(client, job, partition);
      await client.query('DELETE FROM stream_state_segments WHERE job = $1 AND partition = $2', [
        job,
        partition,
      ]);
      await client.query('DELETE FROM stream_state WHERE job = $1 AND partition = $2', [job, partition]);
      const segments = encodeSegments(merged.entries, this.maxSegmentBytes);
      // The merged rows take the places up to the last one replaced: later commits append after.
      const first = last - BigInt(segments.length) + 1n;
      for (let i = 0; i < segments.length; i++)
        await insertSegment(client, job, partition, first + BigInt(i), null, segments[i] as Buffer);
      result = {
        replaced: merged.rows,
        written: segments.length,
        entries: merged.entries.length,
        liveBytes: merged.liveBytes,
      };
    });
    return { ...result, durationMs: performance.now() - started };
  }

  /** Outbox rows of these partitions not yet published, oldest first. */
  async pendingOutbox(job: string, partitions: readonly number[], limit: number): Promise<OutboxRow[]> {
    if (partitions.length === 0) return [];
    const { rows } = await this.pool.query<{
      id: string;
      partition: number;
      topic: string;
      key: string;
      value: Buffer;
    }>(
      `SELECT id, partition, topic, key, value FROM stream_outbox
        WHERE job = $1 AND partition = ANY($2::integer[]) AND published_at IS NULL
        ORDER BY created_at, id LIMIT $3`,
      [job, partitions, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      partition: r.partition,
      topic: r.topic,
      key: r.key,
      value: new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength),
    }));
  }

  /** How many outbox rows of these partitions are not yet published, per partition (absent: 0). */
  async countPendingOutbox(job: string, partitions: readonly number[]): Promise<Map<number, number>> {
    if (partitions.length === 0) return new Map();
    const { rows } = await this.pool.query<{ partition: number; n: string }>(
      `SELECT partition, count(*)::text AS n FROM stream_outbox
        WHERE job = $1 AND partition = ANY($2::integer[]) AND published_at IS NULL
        GROUP BY partition`,
      [job, partitions],
    );
    return new Map(rows.map((r) => [r.partition, Number(r.n)]));
  }

  /**
   * Deletes outbox rows of these partitions published more than `olderThanMs` ago (the database's
   * clock); pending rows are never touched. Returns how many went.
   */
  async deletePublishedOutbox(
    job: string,
    partitions: readonly number[],
    olderThanMs: number,
  ): Promise<number> {
    if (partitions.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `DELETE FROM stream_outbox
        WHERE job = $1 AND partition = ANY($2::integer[]) AND published_at IS NOT NULL
          AND published_at < now() - make_interval(secs => $3::double precision / 1000)`,
      [job, partitions, olderThanMs],
    );
    return rowCount ?? 0;
  }

  async markPublished(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query('UPDATE stream_outbox SET published_at = now() WHERE id = ANY($1::text[])', [ids]);
  }
}

/** The epoch guard: the first statement of every write transaction of a partition. */
async function guard(client: PoolClient, claim: Claim): Promise<void> {
  const { rowCount } = await client.query(
    `UPDATE stream_ownership SET heartbeat_at = now()
      WHERE job = $1 AND partition = $2 AND epoch = $3 AND owner = $4`,
    [claim.job, claim.partition, claim.epoch.toString(), claim.owner],
  );
  if (rowCount !== 1) throw new FencedError(claim.job, claim.partition, claim.epoch, claim.owner);
}

/** The partition's last segment position (0 when it has none). */
async function lastSeq(client: PoolClient, job: string, partition: number): Promise<bigint> {
  const { rows } = await client.query<{ seq: string | null }>(
    'SELECT max(seq)::text AS seq FROM stream_state_segments WHERE job = $1 AND partition = $2',
    [job, partition],
  );
  return BigInt(rows[0]?.seq ?? '0');
}

/** One segment row; a Buffer parameter travels in binary (not as hex text, as inside an array). */
async function insertSegment(
  client: PoolClient,
  job: string,
  partition: number,
  seq: bigint,
  checkpointId: bigint | null,
  data: Buffer,
): Promise<void> {
  await client.query(
    `INSERT INTO stream_state_segments (job, partition, seq, checkpoint_id, data)
     VALUES ($1, $2, $3, $4, $5)`,
    [job, partition, seq.toString(), checkpointId?.toString() ?? null, data],
  );
}

/**
 * The partition's live state entries: the per-entry rows of older versions (stream_state), then
 * every segment in order.
 */
async function readState(
  client: PoolClient,
  job: string,
  partition: number,
): Promise<{ entries: StateChange[]; rows: number; bytes: number; liveBytes: number }> {
  const merge = new StateMerge();
  const legacy = await client.query<{
    name: string;
    key: string;
    user_key: string;
    value: Buffer;
    written_at: string;
  }>(
    `SELECT name, key, user_key, value, written_at::text AS written_at
       FROM stream_state WHERE job = $1 AND partition = $2`,
    [job, partition],
  );
  for (const r of legacy.rows) {
    merge.apply({
      name: r.name,
      key: r.key,
      userKey: r.user_key,
      value: new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength),
      writtenAt: Number(r.written_at),
    });
  }
  const segments = await client.query<{ data: Buffer }>(
    'SELECT data FROM stream_state_segments WHERE job = $1 AND partition = $2 ORDER BY seq',
    [job, partition],
  );
  let bytes = 0;
  for (const r of segments.rows) {
    bytes += r.data.byteLength;
    merge.applySegment(r.data);
  }
  const entries = merge.entries();
  const liveBytes = encodedSize(entries);
  return { entries, rows: legacy.rows.length + segments.rows.length, bytes, liveBytes };
}

function encodedSize(entries: readonly StateChange[]): number {
  let n = SEGMENT_HEADER_BYTES;
  for (const c of entries) n += entrySize(c);
  return n;
}

/** Appends the checkpoint's state changes as segment rows after the partition's last one. */
async function writeState(
  client: PoolClient,
  job: string,
  partition: number,
  checkpointId: bigint,
  changes: readonly StateChange[],
  maxSegmentBytes: number,
): Promise<{ stateBytes: number; segments: number; segmentBytes: number }> {
  if (changes.length === 0) return { stateBytes: 0, segments: 0, segmentBytes: 0 };
  // Last change per entry wins (an entry is listed once by takeChanges; this makes it certain).
  const last = new Map<string, StateChange>();
  for (const c of changes) last.set(`${c.name}\u0000${c.key}\u0000${c.userKey}`, c);
  let stateBytes = 0;
  for (const c of last.values()) stateBytes += c.value?.byteLength ?? 0;
  const segments = encodeSegments([...last.values()], maxSegmentBytes);
  const after = await lastSeq(client, job, partition);
  let segmentBytes = 0;
  for (let i = 0; i < segments.length; i++) {
    const data = segments[i] as Buffer;
    segmentBytes += data.byteLength;
    await insertSegment(client, job, partition, after + 1n + BigInt(i), checkpointId, data);
  }
  return { stateBytes, segments: segments.length, segmentBytes };
}

interface WindowLike {
  readonly kind?: unknown;
  readonly revision?: unknown;
}

function revisionOf(o: EmitOutput | SideOutput): { kind: string | null; revision: number } {
  const v = o.value as WindowLike | null;
  if (typeof v === 'object' && v !== null && typeof v.kind === 'string' && typeof v.revision === 'number') {
    return { kind: v.kind, revision: v.revision };
  }
  return { kind: null, revision: 0 };
}

async function writeOutputs(
  client: PoolClient,
  job: string,
  partition: number,
  cp: TaskCheckpoint,
): Promise<void> {
  // Highest revision per id within this checkpoint (a window may emit twice between checkpoints).
  const results = new Map<string, { o: EmitOutput | SideOutput; kind: string | null; revision: number }>();
  const late: LateOutput[] = [];
  for (const o of cp.outputs) {
    switch (o.type) {
      case 'emit':
      case 'side': {
        const r = revisionOf(o);
        const seen = results.get(o.id);
        if (seen === undefined || seen.revision <= r.revision) results.set(o.id, { o, ...r });
        break;
      }
      case 'late':
        late.push(o);
        break;
      default: {
        const never: never = o;
        throw new TypeError(`unknown output ${String(never)}`);
      }
    }
  }
  if (results.size > 0) {
    const rows = [...results.values()];
    await client.query(
      `INSERT INTO stream_outputs (job, id, type, operator, tag, key, kind, revision, event_time, payload, partition)
       SELECT $1, id, ty, op, tg, k, kd, rv, et, p::jsonb, $2
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::bigint[], $11::text[])
           AS x(id, ty, op, tg, k, kd, rv, et, p)
       ON CONFLICT (job, id) DO UPDATE SET type = EXCLUDED.type, kind = EXCLUDED.kind,
         revision = EXCLUDED.revision, event_time = EXCLUDED.event_time, payload = EXCLUDED.payload,
         partition = EXCLUDED.partition, updated_at = now()
       WHERE stream_outputs.revision <= EXCLUDED.revision`,
      [
        job,
        partition,
        rows.map((r) => r.o.id),
        rows.map((r) => r.o.type),
        rows.map((r) => r.o.operator),
        rows.map((r) => (r.o.type === 'side' ? r.o.tag : '')),
        rows.map((r) => r.o.key),
        rows.map((r) => r.kind),
        rows.map((r) => r.revision),
        rows.map((r) => Math.trunc(r.o.timestamp).toString()),
        rows.map((r) => toJson(r.o.value)),
      ],
    );
  }
  if (late.length > 0) {
    await client.query(
      `INSERT INTO stream_late_data (job, id, reason, key, topic, partition, "offset", event_time, watermark, payload)
       SELECT $1, id, r, k, t, $2, o, et, w, p::jsonb
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::float8[], $9::bigint[], $10::text[])
           AS x(id, r, k, t, o, et, w, p)
       ON CONFLICT (job, id) DO NOTHING`,
      [
        job,
        partition,
        late.map((l) => l.id),
        late.map((l) => l.reason),
        late.map((l) => l.key),
        late.map((l) => l.topic),
        late.map((l) => l.offset.toString()),
        late.map((l) => (Number.isFinite(l.eventTime) ? l.eventTime : null)),
        late.map((l) => Math.trunc(l.watermark).toString()),
        late.map((l) => toJson(l.value)),
      ],
    );
  }
}

async function writeOutbox(
  client: PoolClient,
  job: string,
  partition: number,
  outbox: readonly OutboxMessage[],
): Promise<void> {
  if (outbox.length === 0) return;
  await client.query(
    `INSERT INTO stream_outbox (id, job, partition, topic, key, value)
     SELECT id, $1, $2, t, k, v FROM unnest($3::text[], $4::text[], $5::text[], $6::bytea[]) AS x(id, t, k, v)
     ON CONFLICT (id) DO NOTHING`,
    [
      job,
      partition,
      outbox.map((m) => m.id),
      outbox.map((m) => m.topic),
      outbox.map((m) => m.key),
      outbox.map((m) => Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength)),
    ],
  );
}
