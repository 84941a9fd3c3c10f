/**
 * PUBLISH→PUBACK latency histogram: logarithmic buckets 2 % wide from 1 µs to ~20 min, so a
 * quantile is exact to ±1 % whatever the scale, and histograms from several generator processes
 * merge by adding counts. It travels over IPC as sparse `[bucket, count]` pairs.
 */
const GROWTH = 1.02;
const LN_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1.2e9) / LN_GROWTH) + 1;

export type SparseHistogram = readonly (readonly [bucket: number, count: number])[];

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #total = 0;

  get total(): number {
    return this.#total;
  }

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = ms * 1000;
    const bucket = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LN_GROWTH));
    this.#counts[bucket] = (this.#counts[bucket] ?? 0) + 1;
    this.#total++;
  }

  add(sparse: SparseHistogram): void {
    for (const [bucket, count] of sparse) {
      this.#counts[bucket] = (this.#counts[bucket] ?? 0) + count;
      this.#total += count;
    }
  }

  sparse(): SparseHistogram {
    const out: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const count = this.#counts[i] ?? 0;
      if (count > 0) out.push([i, count]);
    }
    return out;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#total = 0;
  }

  /** The latency (ms) below which a fraction `q` of the recorded values lie; NaN when empty. */
  quantile(q: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] ?? 0;
      // The geometric middle of bucket i: [GROWTH^i, GROWTH^(i+1)) µs.
      if (seen >= rank) return GROWTH ** (i + 0.5) / 1000;
    }
    return NaN;
  }
}
