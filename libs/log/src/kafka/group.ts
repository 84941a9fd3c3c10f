/**
 * A consumer-group member that consumes nothing: Kafka's consumer group protocol (KIP-848,
 * ConsumerGroupHeartbeat, API key 68 v1; Kafka 4.0+) spoken directly over one connection to the
 * group coordinator, so that the coordinator assigns partitions while the application reads them
 * at offsets of its own (see ../group.ts).
 *
 *   join:      FindCoordinator(GROUP, groupId) -> connect -> IncrementalAlterConfigs(GROUP
 *              groupId: consumer.session.timeout.ms, consumer.heartbeat.interval.ms)
 *              -> heartbeat(memberId = a fresh UUID, epoch 0, subscribed = [topic], owned = [])
 *   steady:    heartbeat(memberId, epoch, owned) every heartbeatIntervalMs (the coordinator's),
 *              and at once when `setOwned` changes what is owned;
 *              a response with an assignment replaces the target partitions
 *   leave:     heartbeat(memberId, epoch -1)
 *
 * Reconciliation is the coordinator's (KIP-848 "Member reconciliation"): a partition revoked from
 * this member stays unassigned to others while this member still reports it as owned, which is
 * what makes the hand-over cooperative: the application reports it released only after its final
 * checkpoint. Errors: NOT_COORDINATOR (16), COORDINATOR_NOT_AVAILABLE (15),
 * COORDINATOR_LOAD_IN_PROGRESS (14), network errors and timeouts: find the coordinator again and
 * retry. UNKNOWN_MEMBER_ID (25), FENCED_MEMBER_EPOCH (110): the coordinator dropped this member;
 * rejoin with epoch 0 and an empty assignment (the application then gives up what it holds, and its
 * checkpoints are fenced by their own epochs anyway). Anything else (UNSUPPORTED_VERSION on a broker
 * without KIP-848, INVALID_CONFIG, GROUP_AUTHORIZATION_FAILED, ...) is final: `assignment()` rejects.
 */
import { randomUUID } from 'node:crypto';
import {
  Admin,
  ConfigResourceTypes,
  Connection,
  consumerGroupHeartbeatV1,
  FindCoordinatorKeyTypes,
  findCoordinatorV6,
  IncrementalAlterConfigOperationTypes,
} from '@platformatic/kafka';
import { LogError } from '../errors.js';
import type { GroupAssignment, GroupMember, GroupMemberOptions } from '../group.js';
import { clientOptions, type KafkaLogConfig } from './config.js';

/** Kafka error codes this member acts on (org.apache.kafka.common.protocol.Errors). */
const RETRY_COORDINATOR = new Set([14, 15, 16]);
const REJOIN = new Set([25, 110]);

const NO_ASSIGNMENT: GroupAssignment = Object.freeze({ partitions: Object.freeze([]), epoch: 0 });

/** The Kafka error code in a client error: its own, its response's, or its first leaf's. */
function errorCodeOf(error: unknown, depth = 0): number | undefined {
  if (typeof error !== 'object' || error === null || depth > 3) return undefined;
  const e = error as { apiCode?: unknown; response?: { errorCode?: unknown }; errors?: unknown };
  if (typeof e.apiCode === 'number') return e.apiCode;
  if (typeof e.response?.errorCode === 'number' && e.response.errorCode !== 0) return e.response.errorCode;
  if (Array.isArray(e.errors)) {
    for (const leaf of e.errors) {
      const code = errorCodeOf(leaf, depth + 1);
      if (code !== undefined) return code;
    }
  }
  return undefined;
}

function explain(error: unknown): string {
  const leaves = (error as { errors?: unknown } | undefined)?.errors;
  const details = (Array.isArray(leaves) ? leaves : [error])
    .map((l) => (l as { serverErrorMessage?: unknown; message?: unknown } | undefined) ?? {})
    .map((l) => [l.message, l.serverErrorMessage].filter((x) => typeof x === 'string' && x !== '').join(': '))
    .filter((x) => x !== '');
  const code = errorCodeOf(error);
  const head = error instanceof Error ? error.message : String(error);
  return `${head}${code === undefined ? '' : ` (Kafka error code ${code})`}${details.length > 0 ? ` [${details.join('; ')}]` : ''}`;
}

export class KafkaGroupMember implements GroupMember {
  readonly #config: KafkaLogConfig;
  readonly #options: GroupMemberOptions;
  readonly #memberId = randomUUID();
  #epoch = 0;
  #topicId: string | undefined;
  #assigned: readonly number[] = [];
  #owned: readonly number[] = [];
  #lastOk = 0;
  #intervalMs: number;
  #connection: Connection | undefined;
  #configured = false;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #beatAgain = false;
  #joined: Promise<void> | undefined;
  #markJoined: (() => void) | undefined;
  #fatal: LogError | undefined;
  #closed = false;
  #bootstrap = 0;
  /** The last failed heartbeat's error (kept until one succeeds). */
  #lastError: unknown;

  constructor(config: KafkaLogConfig, options: GroupMemberOptions) {
    if (options.groupId === '' || options.topic === '')
      throw new LogError('INVALID_ARGUMENT', 'a group member needs a groupId and a topic');
    if (!(options.heartbeatIntervalMs > 0 && options.sessionTimeoutMs > options.heartbeatIntervalMs)) {
      throw new LogError(
        'INVALID_ARGUMENT',
        `heartbeatIntervalMs (${options.heartbeatIntervalMs}) must be > 0 and below sessionTimeoutMs (${options.sessionTimeoutMs})`,
      );
    }
    this.#config = config;
    this.#options = options;
    this.#intervalMs = options.heartbeatIntervalMs;
  }

  async assignment(): Promise<GroupAssignment> {
    if (this.#closed) throw new LogError('CLOSED', `group member of ${this.#options.groupId} is closed`);
    if (this.#joined === undefined) {
      this.#joined = new Promise<void>((resolve) => (this.#markJoined = resolve));
      this.#schedule(0);
    }
    if (this.#lastOk === 0 && this.#fatal === undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.#options.sessionTimeoutMs);
      });
      const outcome = await Promise.race([this.#joined, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout' && this.#fatal === undefined) {
        throw new LogError(
          'TIMEOUT',
          `group ${this.#options.groupId}: no answer from the coordinator within ${this.#options.sessionTimeoutMs} ms`,
        );
      }
    }
    if (this.#fatal !== undefined) throw this.#fatal;
    if (Date.now() - this.#lastOk > this.#options.sessionTimeoutMs) {
      const failure = new LogError(
        'UNREACHABLE',
        `group ${this.#options.groupId}: no heartbeat answered for ${Date.now() - this.#lastOk} ms; ` +
          `last failure: ${this.#lastError === undefined ? 'none' : explain(this.#lastError)}`,
        { cause: this.#lastError, retriable: true },
      );
      return { ...NO_ASSIGNMENT, failure };
    }
    return { partitions: this.#assigned, epoch: this.#epoch };
  }

  setOwned(partitions: readonly number[]): void {
    const next = [...partitions].sort((a, b) => a - b);
    if (next.join() === this.#owned.join()) return;
    this.#owned = next;
    if (this.#lastOk > 0 && !this.#closed) this.#schedule(0);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#beating;
    const connection = this.#connection;
    if (connection !== undefined && this.#lastOk > 0) {
      // memberEpoch -1: leave now, so the others need not wait for the session timeout.
      await this.#heartbeatRequest(connection, -1, []).catch(() => undefined);
    }
    await this.#dropConnection();
  }

  /** Runs the next heartbeat after `delayMs` (0: as soon as the one in flight, if any, is done). */
  #schedule(delayMs: number): void {
    if (this.#closed || this.#fatal !== undefined) return;
    if (this.#beating !== undefined) {
      if (delayMs === 0) this.#beatAgain = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#beating = this.#beat().then((next) => {
        this.#beating = undefined;
        const again = this.#beatAgain;
        this.#beatAgain = false;
        if (next !== undefined) this.#schedule(again ? 0 : next);
      });
    }, delayMs);
  }

  /** One heartbeat; returns the delay to the next, or undefined when there is none (closed, final error). */
  async #beat(): Promise<number | undefined> {
    try {
      const connection = await this.#coordinator();
      const owned =
        this.#topicId === undefined ? [] : [{ topicId: this.#topicId, partitions: [...this.#owned] }];
      const response = await this.#heartbeatRequest(connection, this.#epoch, owned);
      if (this.#closed) return undefined;
      this.#epoch = response.memberEpoch;
      if (response.heartbeatIntervalMs > 0) this.#intervalMs = response.heartbeatIntervalMs;
      if (response.assignment !== null) {
        // One subscribed topic: every assigned topic id is that topic's.
        const partitions = new Set<number>();
        for (const tp of response.assignment.topicPartitions) {
          this.#topicId = tp.topicId;
          for (const p of tp.partitions) partitions.add(p);
        }
        this.#assigned = [...partitions].sort((a, b) => a - b);
      }
      this.#lastOk = Date.now();
      this.#lastError = undefined;
      this.#markJoined?.();
      return this.#intervalMs;
    } catch (error) {
      if (this.#closed) return undefined;
      this.#lastError = error;
      const code = errorCodeOf(error);
      if (code !== undefined && REJOIN.has(code)) {
        this.#epoch = 0;
        this.#assigned = [];
        return 100;
      }
      if (code === undefined || RETRY_COORDINATOR.has(code)) {
        await this.#dropConnection();
        return Math.min(this.#intervalMs, 500);
      }
      this.#fatal = new LogError('BROKER', `group ${this.#options.groupId}: ${explain(error)}`, {
        cause: error,
        topic: this.#options.topic,
      });
      this.#markJoined?.();
      return undefined;
    }
  }

  #heartbeatRequest(
    connection: Connection,
    epoch: number,
    owned: { topicId: string; partitions: number[] }[],
  ): Promise<consumerGroupHeartbeatV1.ConsumerGroupHeartbeatResponse> {
    const o = this.#options;
    return consumerGroupHeartbeatV1.api.async(
      connection,
      o.groupId,
      this.#memberId,
      epoch,
      null, // instance id: no static membership
      null, // rack id
      o.rebalanceTimeoutMs ?? 60_000,
      epoch === -1 ? [] : [o.topic],
      null, // subscribed topic regex
      null, // server assignor: the brokers' default (uniform)
      owned,
    );
  }

  /** The connection to the group coordinator, found (and the group configured) on first use. */
  async #coordinator(): Promise<Connection> {
    if (this.#connection !== undefined) return this.#connection;
    const brokers = this.#config.brokers;
    const base = clientOptions(this.#config, 'group');
    const options = { connectTimeout: base.connectTimeout, requestTimeout: base.requestTimeout };
    const [host, port] = splitHost(brokers[this.#bootstrap++ % brokers.length] as string);
    const bootstrap = new Connection(base.clientId as string, options);
    bootstrap.on('error', () => undefined);
    let found: findCoordinatorV6.FindCoordinatorResponseCoordinator | undefined;
    try {
      await bootstrap.connect(host, port);
      const response = await findCoordinatorV6.api.async(bootstrap, FindCoordinatorKeyTypes.GROUP, [
        this.#options.groupId,
      ]);
      found = response.coordinators[0];
    } finally {
      await bootstrap.close().catch(() => undefined);
    }
    if (found === undefined || found.errorCode !== 0) {
      throw Object.assign(new Error(`no coordinator for group ${this.#options.groupId}`), {
        apiCode: found?.errorCode ?? 15,
        serverErrorMessage: found?.errorMessage ?? null,
      });
    }
    if (!this.#configured) {
      await this.#configureGroup();
      this.#configured = true;
    }
    const connection = new Connection(base.clientId as string, options);
    connection.on('error', () => void this.#dropConnection());
    await connection.connect(found.host, found.port);
    this.#connection = connection;
    return connection;
  }

  /** The group's own session timeout and heartbeat interval (Kafka 4.0+ group configs). */
  async #configureGroup(): Promise<void> {
    const admin = new Admin(clientOptions(this.#config, 'group-admin'));
    try {
      await admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.GROUP,
            resourceName: this.#options.groupId,
            configs: [
              {
                name: 'consumer.session.timeout.ms',
                configOperation: IncrementalAlterConfigOperationTypes.SET,
                value: String(this.#options.sessionTimeoutMs),
              },
              {
                name: 'consumer.heartbeat.interval.ms',
                configOperation: IncrementalAlterConfigOperationTypes.SET,
                value: String(this.#options.heartbeatIntervalMs),
              },
            ],
          },
        ],
      });
    } catch (error) {
      const code = errorCodeOf(error);
      // INVALID_CONFIG (40), INVALID_REQUEST (42): a timeout outside the brokers' bounds, or a broker
      // without group configs. Final, with what to change.
      if (code === 40 || code === 42) {
        throw Object.assign(
          new Error(
            `the brokers refuse consumer.session.timeout.ms=${this.#options.sessionTimeoutMs} / ` +
              `consumer.heartbeat.interval.ms=${this.#options.heartbeatIntervalMs} for group ` +
              `${this.#options.groupId}: they must lie within group.consumer.{min,max}.session.timeout.ms ` +
              `and group.consumer.{min,max}.heartbeat.interval.ms of the brokers (Kafka 4.0+). ${explain(error)}`,
          ),
          { apiCode: code },
        );
      }
      throw error;
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  async #dropConnection(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close().catch(() => undefined);
  }
}

function splitHost(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
}
