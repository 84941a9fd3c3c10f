/**
 * The one error class of the agent. Callers act on `code` and the flags, never on message text:
 * `retriable` failures go to the retry module (`publisher/backoff.ts` drives every retry loop);
 * `poison` input (a bad command, an undecodable spool record) is counted, reported and dropped,
 * because the same bytes would fail again.
 */
export const AgentErrorCode = {
  /** The configuration file or an environment override is missing, unreadable or invalid. */
  CONFIG_INVALID: 'AGENT_CONFIG_INVALID',
  /** A file the configuration names (TLS CA/cert/key, password file) cannot be read. */
  CONFIG_FILE_UNREADABLE: 'AGENT_CONFIG_FILE_UNREADABLE',
  /** The serial device cannot be opened (missing, busy, no permission). */
  SERIAL_OPEN: 'AGENT_SERIAL_OPEN',
  /** The serial device is not open (unplugged, closing) or a write to it failed. */
  SERIAL_IO: 'AGENT_SERIAL_IO',
  /** The MQTT broker refused or dropped the connection, or a publish was not acknowledged. */
  MQTT_CONNECTION: 'AGENT_MQTT_CONNECTION',
  /** The broker rejected the credentials (CONNACK 4/5, MQTT 5 reason 0x86/0x87). */
  MQTT_AUTH: 'AGENT_MQTT_AUTH',
  /** A command from the cloud that is malformed or not addressed to this robot. */
  COMMAND_REJECTED: 'AGENT_COMMAND_REJECTED',
  /** A spool record that does not decode (it is dropped, counted and reported). */
  SPOOL_RECORD_POISON: 'AGENT_SPOOL_RECORD_POISON',
  /** A frame the firmware sent whose values the cloud schemas do not accept. */
  FRAME_REJECTED: 'AGENT_FRAME_REJECTED',
  /** The agent is stopping; the operation was not started. */
  STOPPED: 'AGENT_STOPPED',
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

const RETRIABLE: ReadonlySet<AgentErrorCode> = new Set([
  AgentErrorCode.SERIAL_OPEN,
  AgentErrorCode.SERIAL_IO,
  AgentErrorCode.MQTT_CONNECTION,
  AgentErrorCode.MQTT_AUTH,
]);
const POISON: ReadonlySet<AgentErrorCode> = new Set([
  AgentErrorCode.COMMAND_REJECTED,
  AgentErrorCode.SPOOL_RECORD_POISON,
  AgentErrorCode.FRAME_REJECTED,
]);

export class AgentError extends Error {
  override readonly name = 'AgentError';
  /** Trying again later may succeed (the device or broker may come back). */
  readonly retriable: boolean;
  /** The input itself is bad; retrying the same input can never succeed. */
  readonly poison: boolean;

  constructor(
    readonly code: AgentErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.retriable = RETRIABLE.has(code);
    this.poison = POISON.has(code);
  }
}

export function isAgentError(e: unknown, code?: AgentErrorCode): e is AgentError {
  return e instanceof AgentError && (code === undefined || e.code === code);
}

/** The message of anything thrown, for reports and logs. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
