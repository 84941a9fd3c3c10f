/**
 * Presence on `fleet/v1/<site>/<robot>/presence`, retained, QoS 1: `online` (reason connected)
 * after every CONNACK, `offline` (reason disconnected) before a clean shutdown, and `offline`
 * (reason last_will) left with the broker as the last will for when the agent vanishes. `at` is
 * the agent's time on the gateway clock; for the last will it is the time of the connect, and the
 * gateway replaces it with the moment it received the will.
 */
import { encodeMessage, type Presence } from '@fleet/protocol';

export function presencePayload(
  robotId: string,
  online: boolean,
  reason: Presence['reason'],
  at: number,
): Uint8Array {
  return encodeMessage({ kind: 'presence', robotId, online, reason, at });
}
