/**
 * The agent's one retry policy: exponential backoff with jitter. Every loop that waits before
 * trying again (MQTT reconnect, serial reopen, spool append) takes its delays from here and its
 * timers from the injected clock, so a test can drive the whole schedule by hand.
 *
 *   ceiling(n) = min(maxMs, initialMs · 2^n)                       n = failures so far
 *   delay(n)   = ceiling(n) · (1 − jitter) + ceiling(n) · jitter · random()
 *
 * With jitter 1 ("full jitter") the delay is uniform in [0, ceiling): many robots that lost the
 * same broker at the same moment spread their reconnects instead of arriving together.
 *
 * @example
 * const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, jitter: 1 });
 * clock.setTimeout(reconnect, backoff.next()); // 0..1000 ms, then 0..2000, 0..4000, ...
 * backoff.reset();                             // after a success
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0..1: the share of each delay that is random. */
  readonly jitter: number;
}

export class Backoff {
  private failures = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(
        `backoff needs 0 < initialMs <= maxMs, got ${options.initialMs} and ${options.maxMs}`,
      );
    }
    if (!(options.jitter >= 0 && options.jitter <= 1)) {
      throw new RangeError(`backoff jitter must be in 0..1, got ${options.jitter}`);
    }
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const ceiling = this.ceiling();
    this.failures++;
    const { jitter } = this.options;
    return Math.round(ceiling * (1 - jitter) + ceiling * jitter * this.random());
  }

  /** The largest delay `next()` can return now. */
  ceiling(): number {
    // 2^n stops growing once past maxMs; cap n so the power never overflows.
    const n = Math.min(this.failures, 52);
    return Math.min(this.options.maxMs, this.options.initialMs * 2 ** n);
  }

  get attempts(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}
