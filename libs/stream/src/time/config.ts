import { StreamError } from '../errors.js';

/**
 * "Before any event time": the watermark of a key that has sent nothing, and of a fresh partition.
 * A finite number (not -Infinity) so that checkpoints stay plain JSON.
 */
export const NO_TIME = Number.MIN_SAFE_INTEGER;

/** Event-time settings of a job; see the README, "Semantics", for the rules they parameterise. */
export interface EventTimeOptions {
  /** How far (ms) a key's samples may arrive behind the newest one seen for that key. Default 2000. */
  readonly outOfOrdernessMs?: number;
  /** How far (ms) behind the watermark a sample is still processed (windows correct). Default 30 000. */
  readonly allowedLatenessMs?: number;
  /**
   * Processing time (ms) after which a silent key stops holding back the partition watermark, and
   * after which an idle partition's watermark follows the clock. Default 30 000.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Processing time (ms) a key known to be offline keeps its windows open waiting for its backlog;
   * after that it rejoins the partition watermark (and a later backlog is late). Default 6 h.
   */
  readonly offlineHoldMs?: number;
}

export type EventTimeConfig = Readonly<Required<EventTimeOptions>>;

export const DEFAULT_EVENT_TIME: EventTimeConfig = Object.freeze({
  outOfOrdernessMs: 2_000,
  allowedLatenessMs: 30_000,
  idleTimeoutMs: 30_000,
  offlineHoldMs: 6 * 3_600_000,
});

/** Fills defaults and validates; the result is frozen. */
export function eventTimeConfig(options: EventTimeOptions = {}): EventTimeConfig {
  const pick = (name: keyof EventTimeConfig): number => options[name] ?? DEFAULT_EVENT_TIME[name];
  const config: EventTimeConfig = {
    outOfOrdernessMs: pick('outOfOrdernessMs'),
    allowedLatenessMs: pick('allowedLatenessMs'),
    idleTimeoutMs: pick('idleTimeoutMs'),
    offlineHoldMs: pick('offlineHoldMs'),
  };
  for (const [name, value] of Object.entries(config)) {
    if (!Number.isInteger(value) || value < 0) {
      throw new StreamError(
        'BAD_CONFIG',
        `${name} must be a non-negative integer (ms), got ${String(value)}`,
      );
    }
  }
  if (config.idleTimeoutMs === 0) throw new StreamError('BAD_CONFIG', 'idleTimeoutMs must be > 0');
  return Object.freeze(config);
}
