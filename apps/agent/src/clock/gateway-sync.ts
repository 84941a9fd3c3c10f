/**
 * Agent clock → gateway clock, by an NTP-style exchange over MQTT (messages.ts, TimeSyncRequest):
 *
 *   agent  t0 ──time/req──▶ t1  gateway
 *   agent  t3 ◀─time/resp── t2  gateway
 *
 *   offset = ((t1 − t0) + (t2 − t3)) / 2      gateway clock − agent clock
 *   delay  = (t3 − t0) − (t2 − t1)            round trip spent on the network and in brokers
 *
 * The offset is exact when both legs take equally long; its error is at most delay / 2. So of the
 * last `samples` exchanges the one with the smallest delay is used. Until an exchange has
 * completed the offset is 0 (event times are then the robot clock mapped onto the agent's clock
 * only) and `synced` is false. After each (re)connect up to half of `samples` requests go out
 * 2 s apart while fewer than that many answers are known, then one every `intervalMs` — also when
 * nobody answers (an old gateway), so that a fleet never floods it. An answer later than
 * `requestTimeoutMs`, or one that does not match a pending request, is ignored.
 */
import type { TimeSyncRequest, TimeSyncResponse } from '@fleet/protocol';
import { emit } from '../diagnostics.js';
import type { Clock, TimerHandle } from './clock.js';

export interface GatewaySyncOptions {
  readonly robotId: string;
  readonly intervalMs: number;
  readonly samples: number;
  readonly requestTimeoutMs: number;
  /** Period of the warm-up requests after a (re)connect. */
  readonly warmupIntervalMs?: number;
}

export interface GatewaySyncSample {
  readonly offsetMs: number;
  readonly delayMs: number;
  /** Agent time of t3. */
  readonly at: number;
}

/** Sends one request; false when it could not be sent (not connected). */
export type SendTimeSyncRequest = (request: TimeSyncRequest) => boolean;

const U32 = 0x1_0000_0000;

export class GatewayClockSync {
  private readonly pending = new Map<number, number>();
  private readonly history: GatewaySyncSample[] = [];
  private best: GatewaySyncSample | undefined;
  private nextRequestId: number;
  private timer: TimerHandle | undefined;
  private running = false;
  private warmupLeft = 0;
  private sent = 0;
  private answered = 0;
  private rejected = 0;

  constructor(
    private readonly clock: Clock,
    private readonly send: SendTimeSyncRequest,
    private readonly options: GatewaySyncOptions,
    random: () => number = Math.random,
  ) {
    this.nextRequestId = Math.floor(random() * U32);
  }

  /** Gateway clock − agent clock, ms; 0 before the first exchange completed. */
  get offsetMs(): number {
    return this.best?.offsetMs ?? 0;
  }

  get synced(): boolean {
    return this.best !== undefined;
  }

  toGatewayTime(agentTime: number): number {
    return agentTime + this.offsetMs;
  }

  toAgentTime(gatewayTime: number): number {
    return gatewayTime - this.offsetMs;
  }

  /** Starts asking now (call on every (re)connect), and keeps asking periodically. */
  start(): void {
    this.running = true;
    this.warmupLeft = Math.ceil(this.options.samples / 2);
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  /** Handles a `time_sync_response`; returns false when it was ignored. */
  handleResponse(response: TimeSyncResponse): boolean {
    const t3 = this.clock.now();
    const t0 = this.pending.get(response.requestId);
    if (
      t0 === undefined ||
      response.robotId !== this.options.robotId ||
      response.agentSendTime !== t0 ||
      t3 - t0 > this.options.requestTimeoutMs
    ) {
      this.rejected++;
      emit('clock', 'debug', 'time_sync_response_ignored', { requestId: response.requestId });
      return false;
    }
    this.pending.delete(response.requestId);
    const t1 = response.gatewayReceiveTime;
    const t2 = response.gatewaySendTime;
    const delayMs = t3 - t0 - (t2 - t1);
    if (delayMs < 0 || t2 < t1) {
      this.rejected++;
      emit('clock', 'warn', 'time_sync_response_inconsistent', { t0, t1, t2, t3 });
      return false;
    }
    const sample = { offsetMs: (t1 - t0 + (t2 - t3)) / 2, delayMs, at: t3 };
    this.history.push(sample);
    while (this.history.length > this.options.samples) this.history.shift();
    const previous = this.best;
    this.best = this.history.reduce((a, b) => (b.delayMs < a.delayMs ? b : a));
    this.answered++;
    if (previous === undefined || previous.offsetMs !== this.best.offsetMs) {
      emit('clock', previous === undefined ? 'info' : 'debug', 'gateway_offset', {
        offsetMs: this.best.offsetMs,
        delayMs: this.best.delayMs,
        firstSync: previous === undefined,
      });
    }
    return true;
  }

  stats() {
    return {
      synced: this.synced,
      offsetMs: this.offsetMs,
      delayMs: this.best?.delayMs,
      sent: this.sent,
      answered: this.answered,
      rejected: this.rejected,
    };
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, ms);
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.clock.now();
    for (const [id, t0] of this.pending) {
      if (now - t0 > this.options.requestTimeoutMs) this.pending.delete(id);
    }
    const requestId = this.nextRequestId;
    this.nextRequestId = (this.nextRequestId + 1) % U32;
    if (
      this.send({ kind: 'time_sync_request', robotId: this.options.robotId, requestId, agentSendTime: now })
    ) {
      this.pending.set(requestId, now);
      this.sent++;
    }
    this.warmupLeft--;
    const warm = this.history.length >= Math.ceil(this.options.samples / 2);
    this.schedule(
      warm || this.warmupLeft <= 0 ? this.options.intervalMs : (this.options.warmupIntervalMs ?? 2000),
    );
  }
}
