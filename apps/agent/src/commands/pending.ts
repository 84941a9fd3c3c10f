/**
 * Commands forwarded to the firmware and not answered yet, each with its timer on the injected
 * clock. The first ack from the firmware (any outcome) answers a command; if none came when the
 * timer fires, `onTimeout` runs once and the command is forgotten.
 */
import type { Clock, TimerHandle } from '../clock/clock.js';

export class PendingCommands {
  private readonly pending = new Map<string, TimerHandle>();

  constructor(private readonly clock: Clock) {}

  /** Tracks `commandId`; false (and nothing tracked) when it is already pending. */
  add(commandId: string, timeoutMs: number, onTimeout: () => void): boolean {
    if (this.pending.has(commandId)) return false;
    const timer = this.clock.setTimeout(
      () => {
        if (this.pending.delete(commandId)) onTimeout();
      },
      Math.max(0, timeoutMs),
    );
    this.pending.set(commandId, timer);
    return true;
  }

  /** The firmware answered: cancels the timer. False when the command was not pending. */
  resolve(commandId: string): boolean {
    const timer = this.pending.get(commandId);
    if (timer === undefined) return false;
    this.clock.clearTimeout(timer);
    this.pending.delete(commandId);
    return true;
  }

  has(commandId: string): boolean {
    return this.pending.has(commandId);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Cancels every timer (shutdown); no timeout ack is sent for them. */
  clear(): void {
    for (const timer of this.pending.values()) this.clock.clearTimeout(timer);
    this.pending.clear();
  }
}
