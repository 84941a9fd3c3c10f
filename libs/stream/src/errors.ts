/**
 * The one error class of @fleet/stream-runtime. Callers act on `code`, never on message text.
 *
 * - `BAD_CONFIG`: a job or task option is out of range (poison: fix the configuration).
 * - `BAD_SNAPSHOT`: a checkpoint's task state cannot be restored (wrong version, job or partition).
 * - `BAD_NAME`: an operator or state name does not match `[a-z][a-z0-9_]*`, or two operators share one.
 */
export type StreamErrorCode = 'BAD_CONFIG' | 'BAD_SNAPSHOT' | 'BAD_NAME';

export class StreamError extends Error {
  override readonly name = 'StreamError';
  /** Retrying with the same input can never succeed. */
  readonly poison = true;
  readonly retriable = false;
  constructor(
    readonly code: StreamErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const NAME_PATTERN = /^[a-z][a-z0-9_]*$/;
