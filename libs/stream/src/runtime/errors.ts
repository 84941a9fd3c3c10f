/**
 * Errors of the runtime's I/O layer. `FencedError` is the one a caller acts on: the instance lost the
 * partition (another instance claimed it and bumped its epoch), the checkpoint was rolled back, and
 * the task must be dropped, never retried. (To be folded into `StreamError`'s codes by its owner.)
 */
export type RuntimeErrorCode = 'FENCED' | 'NOT_CLAIMED' | 'BAD_TOPICS' | 'BAD_MEMBERSHIP';

export class RuntimeError extends Error {
  override readonly name: string = 'RuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
    readonly retriable: boolean,
    readonly poison: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The checkpoint's epoch guard matched no row: a newer owner holds the partition; this one is a zombie. */
export class FencedError extends RuntimeError {
  override readonly name = 'FencedError';
  constructor(
    readonly job: string,
    readonly partition: number,
    readonly epoch: bigint,
    readonly owner: string,
  ) {
    super(
      'FENCED',
      `${job}/${partition}: epoch ${epoch} of ${owner} was fenced by a newer claim; checkpoint rolled back`,
      false,
      false,
    );
  }
}
