/**
 * Keeps the serial device open: opens it, and when it cannot be opened or is lost (a USB adapter
 * unplugged, the firmware side of a PTY gone) tries again with the retry module's backoff. Each
 * chunk is handed on with the agent time at which it was read (clock correction needs it).
 */
import type { Clock, TimerHandle } from '../clock/clock.js';
import { emit } from '../diagnostics.js';
import { AgentError, AgentErrorCode, errorMessage } from '../errors.js';
import type { Backoff } from '../retry.js';
import type { OpenSerial, SerialLink } from './port.js';

export interface SerialConnectionOptions {
  readonly path: string;
  readonly baudRate: number;
  readonly open: OpenSerial;
  readonly clock: Clock;
  readonly backoff: Backoff;
  onData(chunk: Uint8Array, receivedAt: number): void;
  /** Called after every successful (re)open; the reader drops any half-received frame. */
  onOpen?(): void;
}

export class SerialConnection {
  private link: SerialLink | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private opens = 0;
  private losses = 0;

  constructor(private readonly options: SerialConnectionOptions) {}

  get isOpen(): boolean {
    return this.link !== undefined;
  }

  /** Opens the device now, and keeps reopening it until `stop()`. */
  start(): void {
    this.stopped = false;
    void this.attempt();
  }

  /** Writes to the device; throws AgentError SERIAL_IO (retriable) when it is not open. */
  async write(bytes: Uint8Array): Promise<void> {
    const link = this.link;
    if (link === undefined) {
      throw new AgentError(AgentErrorCode.SERIAL_IO, `serial device ${this.options.path} is not open`, {
        path: this.options.path,
      });
    }
    await link.write(bytes);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const link = this.link;
    this.link = undefined;
    await link?.close();
  }

  stats() {
    return { open: this.isOpen, opens: this.opens, losses: this.losses };
  }

  private async attempt(): Promise<void> {
    const { path, baudRate, clock } = this.options;
    try {
      const opened: { link?: SerialLink } = {};
      const link = await this.options.open(path, baudRate, {
        onData: (chunk) => this.options.onData(chunk, clock.now()),
        onLost: (error) => this.lost(opened.link, error),
      });
      opened.link = link;
      if (this.stopped) {
        await link.close();
        return;
      }
      this.link = link;
      this.opens++;
      this.options.backoff.reset();
      this.options.onOpen?.();
      emit('serial', 'info', 'serial_open', { path, baudRate });
    } catch (e) {
      this.retryLater(e);
    }
  }

  private lost(link: SerialLink | undefined, error: Error | undefined): void {
    if (this.stopped || link === undefined || link !== this.link) return;
    this.link = undefined;
    this.losses++;
    emit('serial', 'warn', 'serial_lost', { path: this.options.path, error: error?.message });
    this.retryLater(error);
  }

  private retryLater(error: unknown): void {
    if (this.stopped) return;
    const delayMs = this.options.backoff.next();
    emit('serial', 'warn', 'serial_retry', {
      path: this.options.path,
      error: error === undefined ? undefined : errorMessage(error),
      delayMs,
      attempt: this.options.backoff.attempts,
    });
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, delayMs);
  }
}
