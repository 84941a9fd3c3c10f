/**
 * Which instance owns which partitions.
 *
 * {@link PgLeaseMembership}: leases in PostgreSQL. Every instance upserts its heartbeat
 * (`stream_instances.heartbeat_at = now()`, the database's clock, so instance clocks never matter)
 * and reads the live instances (heartbeat within the session timeout). Partitions are split among
 * the live instances, sorted by id, round-robin: partition p belongs to live[p mod n]. An instance
 * whose heartbeat is older than the session timeout drops out of every live list, and its
 * partitions become claimable ({@link PgCheckpointStore.claim}); the epoch bump of that claim makes
 * any later commit of the old owner fail, so a paused or partitioned zombie can never commit.
 *
 * A Kafka consumer group (assignment only, offsets staying in PostgreSQL) would implement the same
 * interface; it is not built yet.
 */
import type { DbPool as Pool } from './db-types.js';

export interface MembershipView {
  /** Live instance ids, sorted. */
  readonly live: readonly string[];
  /** The partitions this instance should own now. */
  readonly partitions: readonly number[];
}

export interface Membership {
  /** Joins (or renews the lease) and returns the current split. */
  heartbeat(): Promise<MembershipView>;
  /** Leaves at once, so the others take the partitions over without waiting for the timeout. */
  leave(): Promise<void>;
}

export interface PgLeaseMembershipOptions {
  readonly job: string;
  readonly instance: string;
  readonly partitionCount: number;
  readonly sessionTimeoutMs: number;
}

/** Deterministic split: partition p goes to sorted(live)[p mod n]. */
export function splitPartitions(live: readonly string[], partitionCount: number, instance: string): number[] {
  const sorted = [...live].sort();
  const out: number[] = [];
  if (sorted.length === 0) return out;
  for (let p = 0; p < partitionCount; p++) if (sorted[p % sorted.length] === instance) out.push(p);
  return out;
}

export class PgLeaseMembership implements Membership {
  constructor(
    private readonly pool: Pool,
    private readonly options: PgLeaseMembershipOptions,
  ) {}

  async heartbeat(): Promise<MembershipView> {
    const { job, instance, partitionCount, sessionTimeoutMs } = this.options;
    await this.pool.query(
      `INSERT INTO stream_instances (job, instance_id) VALUES ($1, $2)
       ON CONFLICT (job, instance_id) DO UPDATE SET heartbeat_at = now()`,
      [job, instance],
    );
    const { rows } = await this.pool.query<{ instance_id: string }>(
      `SELECT instance_id FROM stream_instances
        WHERE job = $1 AND heartbeat_at > now() - make_interval(secs => $2::double precision / 1000)
        ORDER BY instance_id`,
      [job, sessionTimeoutMs],
    );
    const live = rows.map((r) => r.instance_id);
    return { live, partitions: splitPartitions(live, partitionCount, instance) };
  }

  async leave(): Promise<void> {
    await this.pool.query('DELETE FROM stream_instances WHERE job = $1 AND instance_id = $2', [
      this.options.job,
      this.options.instance,
    ]);
  }
}
