/**
 * Consumer-group membership WITHOUT consuming: which partitions of one topic this process should
 * own, decided by the log's group coordinator. The stream runtime reads its partitions itself, at
 * offsets it keeps in PostgreSQL (`LogReader.assign`), so it needs the group only for who-owns-what.
 *
 * Hand-over is cooperative: the member reports the partitions it still holds (`setOwned`), and a
 * partition taken from it is given to another member only once it is no longer reported (after the
 * owner's final checkpoint), or once the owner's rebalance timeout or session has expired.
 *
 * Kafka implements it with the consumer group protocol of KIP-848 (Kafka 4.0+, `./kafka/group.ts`);
 * the file-backed log has no coordinator and no group member (its users keep leases elsewhere).
 */

export interface GroupMemberOptions {
  /** The consumer group: every instance of one job joins the same one. */
  readonly groupId: string;
  /** The topic whose partitions are assigned; co-partitioned topics follow its partition numbers. */
  readonly topic: string;
  /**
   * A member whose heartbeats stop for this long is removed and its partitions reassigned. Set as
   * the group's `consumer.session.timeout.ms`; the brokers bound it
   * (`group.consumer.min.session.timeout.ms` .. `max`).
   */
  readonly sessionTimeoutMs: number;
  /** The group's `consumer.heartbeat.interval.ms` (brokers bound it likewise). */
  readonly heartbeatIntervalMs: number;
  /**
   * How long a member may keep reporting a revoked partition before the coordinator fences it.
   * Default 60 000 ms.
   */
  readonly rebalanceTimeoutMs?: number;
}

export interface GroupAssignment {
  /** Partitions of the topic assigned to this member now, ascending. */
  readonly partitions: readonly number[];
  /** The member epoch; it moves forward with every new assignment. 0 before the first. */
  readonly epoch: number;
  /**
   * Set when heartbeats have failed for longer than the session timeout (the assignment is then
   * empty): the last failure, as a retriable `LogError`, for the caller to report.
   */
  readonly failure?: Error;
}

export interface GroupMember {
  /**
   * The current assignment. The first call joins the group and resolves after the coordinator's
   * first answer. Once heartbeats have failed for a whole session timeout the assignment is empty:
   * the coordinator has given the partitions to others by then. Rejects with a `LogError`: `TIMEOUT`
   * (retriable) when no answer came within a session timeout, `BROKER` (not retriable) when the
   * coordinator refuses the member (e.g. a broker without KIP-848, or a timeout outside the
   * brokers' bounds), `CLOSED` after `close()`.
   */
  assignment(): Promise<GroupAssignment>;
  /** The partitions the application still holds; a change is reported to the coordinator at once. */
  setOwned(partitions: readonly number[]): void;
  /** Leaves the group (the others take the partitions over at once) and closes the connections. */
  close(): Promise<void>;
}
