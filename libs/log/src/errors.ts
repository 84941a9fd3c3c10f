/**
 * The one error class of libs/log. Callers act on the flags, never on messages:
 *  - `retriable`: the same call may succeed later (broker down, leader moving, timeout). The retry
 *    module of the caller decides how often; libs/log itself does not loop on failure beyond the
 *    client's short internal retries.
 *  - `poison`: this record can never be written as it is (too large, rejected as invalid); retrying
 *    it is pointless, it must go to a dead-letter path.
 */
export const LOG_ERROR_CODES = [
  /** No broker could be reached (connection refused, DNS, TLS). */
  'UNREACHABLE',
  /** A request got no answer in time. */
  'TIMEOUT',
  /** The broker answered with an error it marks retriable (NOT_LEADER_OR_FOLLOWER, ...). */
  'BROKER_RETRIABLE',
  /** Unknown topic or partition. */
  'NOT_FOUND',
  /** The topic exists already (with another partition count, when `ifNotExists` was given). */
  'ALREADY_EXISTS',
  /** The record itself was refused (too large, invalid): poison. */
  'RECORD_REJECTED',
  /** A read offset lies outside the partition's stored range (retention, truncation). */
  'OFFSET_OUT_OF_RANGE',
  /** The caller passed something invalid (partition out of range, empty topic name, ...). */
  'INVALID_ARGUMENT',
  /** Used after close(). */
  'CLOSED',
  /** Any other broker or client failure. */
  'BROKER',
] as const;

export type LogErrorCode = (typeof LOG_ERROR_CODES)[number];

const DEFAULT_RETRIABLE: Readonly<Record<LogErrorCode, boolean>> = {
  UNREACHABLE: true,
  TIMEOUT: true,
  BROKER_RETRIABLE: true,
  NOT_FOUND: false,
  ALREADY_EXISTS: false,
  RECORD_REJECTED: false,
  OFFSET_OUT_OF_RANGE: false,
  INVALID_ARGUMENT: false,
  CLOSED: false,
  BROKER: false,
};

export interface LogErrorOptions {
  readonly cause?: unknown;
  /** Overrides the code's default. */
  readonly retriable?: boolean;
  readonly topic?: string;
  readonly partition?: number;
}

export class LogError extends Error {
  override readonly name = 'LogError';
  readonly code: LogErrorCode;
  readonly retriable: boolean;
  readonly poison: boolean;
  readonly topic: string | undefined;
  readonly partition: number | undefined;

  constructor(code: LogErrorCode, message: string, options: LogErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? DEFAULT_RETRIABLE[code];
    this.poison = code === 'RECORD_REJECTED';
    this.topic = options.topic;
    this.partition = options.partition;
  }

  static is(error: unknown, code?: LogErrorCode): error is LogError {
    return error instanceof LogError && (code === undefined || error.code === code);
  }
}
