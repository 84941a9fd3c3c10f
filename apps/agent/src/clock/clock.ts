/**
 * The agent's own clock and timers, injected everywhere time matters (batching delays, reconnect
 * backoff, command timeouts, clock correction), so tests drive time by hand instead of waiting.
 */
/** Opaque: whatever `setTimeout` of the clock returned. */
export type TimerHandle = object;

export interface Clock {
  /** Milliseconds since the Unix epoch on the agent's clock. */
  now(): number;
  /** Runs `fn` once after `ms`; cancel with `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The host's wall clock and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((done) => clock.setTimeout(done, ms));
}

/** `promise`, or a rejection with `message` once `ms` passed on `clock`. */
export function withTimeout<T>(clock: Clock, promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
