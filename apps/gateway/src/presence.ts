/**
 * Presence from the embedded broker's point of view, which is the truth about a connection: a
 * robot is online while it holds at least one authenticated connection. Only the transitions are
 * written (0 -> 1: online/connected; 1 -> 0: offline/disconnected after a DISCONNECT packet, or
 * offline/last_will when the connection was lost and the broker fired the will). An offline change
 * waits `graceMs` and is dropped when the robot connects again meanwhile, so a session takeover
 * (aedes closes the old connection just before it admits the new one with the same client id)
 * or a quick reconnect writes nothing; the offline record keeps the time of the disconnect.
 * Writes for one robot are chained, so Kafka receives them in the order they happened.
 */
import type { Presence } from '@fleet/protocol';
import type { RobotIdentity } from './auth/credentials.js';

export type PresenceWriter = (presence: Presence) => Promise<void>;

export class PresenceTracker {
  readonly #write: PresenceWriter;
  readonly #now: () => number;
  readonly #onError: (error: unknown, presence: Presence) => void;
  readonly #connections = new Map<string, number>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #pendingOffline = new Map<
    string,
    { readonly timer: NodeJS.Timeout; readonly presence: Presence }
  >();
  readonly #graceMs: number;

  constructor(
    write: PresenceWriter,
    onError: (error: unknown, presence: Presence) => void,
    options: { readonly graceMs?: number; readonly now?: () => number } = {},
  ) {
    this.#write = write;
    this.#onError = onError;
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.graceMs ?? 1000;
  }

  /** Robots with at least one connection. */
  get online(): number {
    return this.#connections.size;
  }

  connected(identity: RobotIdentity): void {
    const n = (this.#connections.get(identity.robotId) ?? 0) + 1;
    this.#connections.set(identity.robotId, n);
    const pending = this.#pendingOffline.get(identity.robotId);
    if (pending !== undefined) {
      // Back within the grace period: it never went offline as far as anyone downstream knows.
      clearTimeout(pending.timer);
      this.#pendingOffline.delete(identity.robotId);
      return;
    }
    if (n === 1)
      this.#enqueue({
        kind: 'presence',
        robotId: identity.robotId,
        online: true,
        reason: 'connected',
        at: this.#now(),
      });
  }

  disconnected(identity: RobotIdentity, clean: boolean): void {
    const n = (this.#connections.get(identity.robotId) ?? 0) - 1;
    if (n > 0) {
      this.#connections.set(identity.robotId, n);
      return;
    }
    this.#connections.delete(identity.robotId);
    const presence: Presence = {
      kind: 'presence',
      robotId: identity.robotId,
      online: false,
      reason: clean ? 'disconnected' : 'last_will',
      at: this.#now(),
    };
    const timer = setTimeout(() => {
      this.#pendingOffline.delete(identity.robotId);
      this.#enqueue(presence);
    }, this.#graceMs);
    timer.unref();
    this.#pendingOffline.set(identity.robotId, { timer, presence });
  }

  /** Resolves when every presence change so far has been written (or failed), or after `timeoutMs`. */
  async flush(timeoutMs = 5000): Promise<void> {
    for (const [robotId, pending] of this.#pendingOffline) {
      clearTimeout(pending.timer);
      this.#pendingOffline.delete(robotId);
      this.#enqueue(pending.presence);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.#chains.values()]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #enqueue(presence: Presence): void {
    const previous = this.#chains.get(presence.robotId) ?? Promise.resolve();
    const next = previous
      .then(() => this.#write(presence))
      .catch((error: unknown) => this.#onError(error, presence))
      .finally(() => {
        if (this.#chains.get(presence.robotId) === next) this.#chains.delete(presence.robotId);
      });
    this.#chains.set(presence.robotId, next);
  }
}
