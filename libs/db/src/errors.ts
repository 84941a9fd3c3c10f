import { DatabaseError } from 'pg';

/**
 * The one error class of libs/db. Callers act on `code` and the flags, never on message text.
 *
 * `retriable` says whether trying the same operation again can succeed without anyone changing
 * anything (a server still starting up); `poison` says it never will (a migration file that was
 * edited after it was applied).
 */
export const DbErrorCode = {
  /** A configuration value handed to this package is invalid (empty URL, bad pool size, bad name). */
  INVALID_CONFIG: 'DB_INVALID_CONFIG',
  /** A file in the migrations folder does not follow `NNNN_name.sql` / `NNNN_name.timescale.sql`, or two share a version. */
  MIGRATION_INVALID: 'DB_MIGRATION_INVALID',
  /** An already-applied migration file no longer has the checksum recorded when it was applied. */
  MIGRATION_CHECKSUM_MISMATCH: 'DB_MIGRATION_CHECKSUM_MISMATCH',
  /** A pending migration is older than one already applied (a merge put it behind the database). */
  MIGRATION_OUT_OF_ORDER: 'DB_MIGRATION_OUT_OF_ORDER',
  /** A migration's SQL failed; its transaction was rolled back. `cause` holds the server error. */
  MIGRATION_FAILED: 'DB_MIGRATION_FAILED',
  /** COMMIT answered ROLLBACK: a statement inside the transaction had failed and was swallowed. */
  TRANSACTION_ABORTED: 'DB_TRANSACTION_ABORTED',
  /** The embedded server could not be prepared, initialised or started; the message holds the log tail. */
  EMBEDDED_START_FAILED: 'DB_EMBEDDED_START_FAILED',
} as const;
export type DbErrorCode = (typeof DbErrorCode)[keyof typeof DbErrorCode];

const POISON: ReadonlySet<DbErrorCode> = new Set<DbErrorCode>([
  DbErrorCode.INVALID_CONFIG,
  DbErrorCode.MIGRATION_INVALID,
  DbErrorCode.MIGRATION_CHECKSUM_MISMATCH,
  DbErrorCode.MIGRATION_OUT_OF_ORDER,
]);

export class DbError extends Error {
  override readonly name = 'DbError';
  readonly retriable: boolean;
  readonly poison: boolean;

  constructor(
    readonly code: DbErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options: { cause?: unknown; retriable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Only the thrower knows whether a failure was transient (a dropped connection mid-migration).
    this.retriable = options.retriable ?? false;
    this.poison = POISON.has(code);
  }
}

export function isDbError(e: unknown, code?: DbErrorCode): e is DbError {
  return e instanceof DbError && (code === undefined || e.code === code);
}

/** The SQLSTATE of a PostgreSQL server error (`23505`, `40001`, ...), or undefined for anything else. */
export function sqlState(error: unknown): string | undefined {
  return error instanceof DatabaseError ? error.code : undefined;
}
