/**
 * The one error class of the firmware simulator, with a fixed set of codes callers act on.
 * `CONFIG` errors name the argument (or file field) at fault; the CLI prints them and exits 2.
 */
export const SimErrorCode = {
  /** A command-line argument, site file or faults file is invalid. */
  CONFIG: 'SIM_CONFIG',
  /** A serial device could not be opened or written. */
  SERIAL: 'SIM_SERIAL',
} as const;
export type SimErrorCode = (typeof SimErrorCode)[keyof typeof SimErrorCode];

export class SimError extends Error {
  override readonly name = 'SimError';

  constructor(
    readonly code: SimErrorCode,
    message: string,
    /** For CONFIG: the argument at fault, e.g. `--robots`. */
    readonly argument?: string,
  ) {
    super(message);
  }

  /** Retrying with the same configuration can never succeed. */
  get retriable(): boolean {
    return this.code === SimErrorCode.SERIAL;
  }
}

export function configError(argument: string, message: string): SimError {
  return new SimError(SimErrorCode.CONFIG, `${argument}: ${message}`, argument);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
