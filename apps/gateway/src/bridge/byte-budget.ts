/**
 * A byte semaphore: `take(n)` waits until n bytes fit under the limit, in arrival order. A request
 * larger than the whole limit is let through alone (when nothing else is held), so one oversized
 * payload cannot block forever.
 */
interface Waiter {
  readonly n: number;
  readonly go: () => void;
  readonly stop: (e: Error) => void;
}

export class ByteBudget {
  readonly #limit: number;
  #held = 0;
  readonly #waiting: Waiter[] = [];
  #closed = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  tryTake(n: number): boolean {
    if (this.#closed || this.#waiting.length > 0 || !this.#fits(n)) return false;
    this.#held += n;
    return true;
  }

  take(n: number): Promise<void> {
    if (this.tryTake(n)) return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error('byte budget closed'));
    return new Promise((go, stop) => this.#waiting.push({ n, go, stop }));
  }

  give(n: number): void {
    this.#held -= n;
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0] as Waiter;
      if (!this.#fits(next.n)) break;
      this.#waiting.shift();
      this.#held += next.n;
      next.go();
    }
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.stop(new Error('byte budget closed'));
  }

  #fits(n: number): boolean {
    return this.#held === 0 || this.#held + n <= this.#limit;
  }
}
