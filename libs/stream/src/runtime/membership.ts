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
 * {@link KafkaGroupMembership}: the job's Kafka consumer group decides the split (KIP-848, the
 * coordinator's assignor; offsets stay in PostgreSQL), and the same PostgreSQL lease keeps proving
 * the instance alive, because a claim (epoch bump) is refused while the previous owner's lease is
 * live. The instance reports what it still owns after every change; the coordinator gives a revoked
 * partition to its next owner only once the old one has checkpointed and released it (cooperative
 * hand-over), or once the old one's session has expired (kill -9, SIGSTOP).
 */
import type { GroupMember } from '@fleet/log';
import type { DbPool as Pool } from './db-types.js';

export interface MembershipView {
  /** Live instance ids, sorted. */
  readonly live: readonly string[];
  /** The partitions this instance should own now. */
  readonly partitions: readonly number[];
  /** Why `partitions` is empty when it is for a failure (the instance reports it). */
  readonly problem?: Error;
}

export interface Membership {
  /** Joins (or renews the lease) and returns the current split. */
  heartbeat(): Promise<MembershipView>;
  /** Leaves at once, so the others take the partitions over without waiting for the timeout. */
  leave(): Promise<void>;
  /** The partitions the instance holds now (after each claim, release or drop). */
  owned?(partitions: readonly number[]): void;
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

/** Ownership decided by the job's Kafka consumer group; liveness kept by the PostgreSQL lease. */
export class KafkaGroupMembership implements Membership {
  constructor(
    private readonly lease: PgLeaseMembership,
    private readonly member: GroupMember,
  ) {}

  async heartbeat(): Promise<MembershipView> {
    const [view, assignment] = await Promise.all([this.lease.heartbeat(), this.member.assignment()]);
    return {
      live: view.live,
      partitions: assignment.partitions,
      ...(assignment.failure === undefined ? {} : { problem: assignment.failure }),
    };
  }

  owned(partitions: readonly number[]): void {
    this.member.setOwned(partitions);
  }

  async leave(): Promise<void> {
    const results = await Promise.allSettled([this.member.close(), this.lease.leave()]);
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failed.length > 0) throw new AggregateError(failed, 'leaving the membership failed');
  }
}
