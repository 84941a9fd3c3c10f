import { LogError, type LogErrorCode } from '../errors.js';

/**
 * Maps whatever @platformatic/kafka throws to one LogError. Its errors are trees: a
 * `MultipleErrors` (an AggregateError) of the attempts of one retried operation, a
 * `ResponseError` of one `ProtocolError` per failing topic/partition. Leaves carry `apiId`
 * (the Kafka error name) and `canRetry` (Kafka's own retriable flag, from the protocol spec).
 */

interface Leaf {
  readonly message: string;
  readonly code: LogErrorCode;
}

/** Kafka error names (protocol guide, "Error Codes") that mean something to callers. */
const BY_KAFKA_ERROR: Readonly<Record<string, LogErrorCode>> = {
  UNKNOWN_TOPIC_OR_PARTITION: 'NOT_FOUND',
  UNKNOWN_TOPIC_ID: 'NOT_FOUND',
  TOPIC_ALREADY_EXISTS: 'ALREADY_EXISTS',
  OFFSET_OUT_OF_RANGE: 'OFFSET_OUT_OF_RANGE',
  MESSAGE_TOO_LARGE: 'RECORD_REJECTED',
  RECORD_LIST_TOO_LARGE: 'RECORD_REJECTED',
  INVALID_RECORD: 'RECORD_REJECTED',
  CORRUPT_MESSAGE: 'RECORD_REJECTED',
  INVALID_TIMESTAMP: 'RECORD_REJECTED',
  INVALID_PARTITIONS: 'INVALID_ARGUMENT',
  INVALID_REPLICATION_FACTOR: 'INVALID_ARGUMENT',
  INVALID_TOPIC_EXCEPTION: 'INVALID_ARGUMENT',
  INVALID_CONFIG: 'INVALID_ARGUMENT',
  POLICY_VIOLATION: 'INVALID_ARGUMENT',
};

/** Which code wins when the leaves disagree: what the caller must act on first. */
const PRECEDENCE: readonly LogErrorCode[] = [
  'RECORD_REJECTED',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'OFFSET_OUT_OF_RANGE',
  'CLOSED',
  'BROKER',
  'BROKER_RETRIABLE',
  'TIMEOUT',
  'UNREACHABLE',
];

const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

function prop(error: object, name: string): unknown {
  return (error as Record<string, unknown>)[name];
}

function classify(error: Error): LogErrorCode {
  const code = prop(error, 'code');
  switch (code) {
    case 'PLT_KFK_PROTOCOL': {
      const apiId = prop(error, 'apiId');
      const mapped = typeof apiId === 'string' ? BY_KAFKA_ERROR[apiId] : undefined;
      if (mapped !== undefined) return mapped;
      return prop(error, 'canRetry') === true ? 'BROKER_RETRIABLE' : 'BROKER';
    }
    case 'PLT_KFK_NETWORK':
      return 'UNREACHABLE';
    case 'PLT_KFK_TIMEOUT':
      return 'TIMEOUT';
    case 'PLT_KFK_USER':
      // The client turns UNKNOWN_TOPIC_OR_PARTITION from Metadata into a UserError with this text.
      return /^Unknown topic /.test(error.message) ? 'NOT_FOUND' : 'INVALID_ARGUMENT';
    default:
      return typeof code === 'string' && NETWORK_ERRNOS.has(code) ? 'UNREACHABLE' : 'BROKER';
  }
}

function collect(error: unknown, out: Leaf[], depth: number): void {
  if (!(error instanceof Error) || depth > 8) {
    out.push({ message: String(error), code: 'BROKER' });
    return;
  }
  if (error instanceof AggregateError && error.errors.length > 0) {
    for (const inner of error.errors) collect(inner, out, depth + 1);
    return;
  }
  const leafCode = classify(error);
  // A network error wraps the socket's own error (ECONNREFUSED): the wrapper's message is enough.
  if (leafCode === 'BROKER' && error.cause instanceof Error) {
    collect(error.cause, out, depth + 1);
    return;
  }
  out.push({ message: error.message, code: leafCode });
}

/** Converts a client failure into a LogError; LogErrors pass through unchanged. */
export function toLogError(
  error: unknown,
  context: string,
  where: { readonly topic?: string; readonly partition?: number } = {},
): LogError {
  if (error instanceof LogError) return error;
  const leaves: Leaf[] = [];
  collect(error, leaves, 0);
  const code = PRECEDENCE.find((c) => leaves.some((l) => l.code === c)) ?? 'BROKER';
  const messages = [...new Set(leaves.map((l) => l.message))].slice(0, 5).join('; ');
  return new LogError(code, `${context}: ${messages}`, { cause: error, ...where });
}
