/**
 * Seeded pseudo-random numbers. Every random draw of the simulator comes from an `Rng` derived from
 * the run's seed and a label (`seed/robot/3/battery`), never from Math.random, so a run is a pure
 * function of its seed and of the commands it receives. Separate labels give separate streams: a
 * command that draws an ack latency does not shift the physics noise of the same robot.
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, from PractRand): 128 bits
 * of state, period at least 2^32, passes PractRand and BigCrush. State is seeded from the label by
 * four differently seeded 32-bit FNV-1a hashes, each finished with murmur3's fmix32 avalanche.
 */

/** z such that P(Z <= z) = 0.99 for a standard normal Z. */
export const Z_99 = 2.3263478740408408;

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second value of the last Box–Muller pair, used by the next `normal()`. */
  private spare: number | undefined;

  private constructor(readonly label: string) {
    this.a = hash32(label, 0x811c9dc5);
    this.b = hash32(label, 0x01000193);
    this.c = hash32(label, 0x9e3779b9);
    this.d = hash32(label, 0x85ebca6b);
    // The first outputs of a freshly seeded sfc32 still correlate with the seed.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A stream named by `label`; the same label always gives the same numbers. */
  static fromSeed(label: string): Rng {
    return new Rng(label);
  }

  /** An independent stream for `name`, derived from this stream's label (not from its position). */
  fork(name: string): Rng {
    return new Rng(`${this.label}/${name}`);
  }

  /** Uniform integer in [0, 2^32). */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box–Muller, both values of each pair used). */
  normal(): number {
    const spare = this.spare;
    if (spare !== undefined) {
      this.spare = undefined;
      return spare;
    }
    // 1 - next() is in (0, 1], so the logarithm is finite.
    const r = Math.sqrt(-2 * Math.log(1 - this.next()));
    const theta = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * Lognormal draw given its median and 99th percentile: ln X ~ N(ln median, sigma) with
   * sigma = ln(p99 / median) / z99. Latencies of a firmware main loop are skewed like this: mostly
   * near the median, with a long tail when the MCU is busy.
   */
  lognormal(medianMs: number, p99Ms: number): number {
    const sigma = Math.log(p99Ms / medianMs) / Z_99;
    return medianMs * Math.exp(sigma * this.normal());
  }
}

function hash32(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // murmur3 fmix32: every input bit affects every output bit.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
