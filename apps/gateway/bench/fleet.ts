/**
 * The simulated fleet and the messages between the bench (orchestrator) and its load-generator
 * processes. Robot i is `b-<i, 6 digits>` of site `site-<i / 1000>`; its secret is derived from the
 * run's seed, so the orchestrator provisions and every generator connects without shipping 100k
 * secrets over IPC.
 */
import { createHash } from 'node:crypto';
import type { SparseHistogram } from './histogram.js';

export const ROBOTS_PER_SITE = 1000;

export function robotId(index: number): string {
  return `b-${String(index).padStart(6, '0')}`;
}

export function siteId(index: number): string {
  return `site-${String(Math.floor(index / ROBOTS_PER_SITE)).padStart(3, '0')}`;
}

/** 43 characters of base64url (the gateway requires >= 32). */
export function robotSecret(seed: string, robotIndex: number): string {
  return createHash('sha256')
    .update(`${seed}:${robotId(robotIndex)}`)
    .digest('base64url');
}

/** What one generator process is given at start (as JSON in argv). */
export interface GeneratorSetup {
  readonly index: number;
  /**
   * Where robot r connects: `endpoints[r % endpoints.length]`. Each (source address, destination
   * address, port) has only ~28k ephemeral ports, so the bench spreads connections over loopback
   * DESTINATION addresses (127.0.0.x); binding source addresses instead (`localAddress`) makes the
   * kernel search for a free port on every connect, ten times the system time per connection.
   */
  readonly endpoints: readonly { readonly host: string; readonly port: number }[];
  readonly firstRobot: number;
  readonly robots: number;
  readonly seed: string;
  readonly keepaliveSeconds: number;
  /** New connections per second, this generator alone. */
  readonly connectRate: number;
  /** Connections that have not had their CONNACK yet, at most. */
  readonly maxPendingConnects: number;
}

/** One phase of load. */
export interface LoadSpec {
  /** How many of this generator's connections publish (spread evenly over them). */
  readonly publishers: number;
  /** Samples per PUBLISH (one telemetry batch record). */
  readonly batch: number;
  /** PUBLISHes in flight (sent, not yet PUBACKed) per connection, at most. */
  readonly window: number;
  /** PUBLISHes per second per publisher; 0 = closed loop (send again as soon as a PUBACK frees the window). */
  readonly rate: number;
}

export type ToGenerator =
  | { readonly type: 'connect' }
  | { readonly type: 'load'; readonly load: LoadSpec }
  | { readonly type: 'snapshot'; readonly id: number }
  | { readonly type: 'stop-load'; readonly id: number; readonly timeoutMs: number }
  | { readonly type: 'close' };

/** Counters since the last `load` (cumulative within the phase). */
export interface LoadCounters {
  readonly sent: number;
  readonly acked: number;
  readonly ackedSamples: number;
  /** Open loop: sends that were due while the connection's window was full (not sent). */
  readonly deferred: number;
  /** PUBLISHes lost with their connection before a PUBACK came. */
  readonly lostInFlight: number;
}

export interface ConnectionCounters {
  /** Connections with a CONNACK (return code 0) that are open now. */
  readonly up: number;
  readonly pending: number;
  /** CONNACKs with a non-zero return code, by code. */
  readonly refused: Readonly<Record<string, number>>;
  /** Sockets that failed or closed before their CONNACK (retried). */
  readonly failed: number;
  /** Connections closed after their CONNACK (reconnected). */
  readonly dropped: number;
  readonly pingsSent: number;
}

export type FromGenerator =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly connections: ConnectionCounters }
  | {
      readonly type: 'snapshot';
      readonly id: number;
      readonly at: number;
      readonly connections: ConnectionCounters;
      readonly load: LoadCounters;
      readonly inFlight: number;
      /** Latencies recorded since the previous snapshot. */
      readonly latency: SparseHistogram;
    }
  | {
      readonly type: 'drained';
      readonly id: number;
      readonly connections: ConnectionCounters;
      readonly load: LoadCounters;
      readonly inFlight: number;
      readonly latency: SparseHistogram;
    }
  | { readonly type: 'error'; readonly message: string };
