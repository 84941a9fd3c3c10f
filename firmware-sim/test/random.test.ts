import { describe, expect, it } from 'vitest';
import { Rng } from '../src/random.js';

describe('seeded random numbers', () => {
  it('the same label gives the same stream; forks are independent of position', () => {
    const a = Rng.fromSeed('x');
    const b = Rng.fromSeed('x');
    expect(Array.from({ length: 5 }, () => a.u32())).toEqual(Array.from({ length: 5 }, () => b.u32()));
    const c = Rng.fromSeed('x');
    c.u32();
    expect(c.fork('f').u32()).toBe(Rng.fromSeed('x').fork('f').u32());
    expect(Rng.fromSeed('y').u32()).not.toBe(Rng.fromSeed('x').u32());
  });

  it('uniforms are in [0, 1) with mean 1/2; normals have mean 0 and sd 1', () => {
    const rng = Rng.fromSeed('stats');
    const n = 100_000;
    let sum = 0;
    let sumN = 0;
    let sumN2 = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
      const z = rng.normal();
      sumN += z;
      sumN2 += z * z;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    expect(sumN / n).toBeCloseTo(0, 1);
    expect(Math.sqrt(sumN2 / n)).toBeCloseTo(1, 1);
  });

  it('lognormal latencies have the configured median and 99th percentile', () => {
    const rng = Rng.fromSeed('latency');
    const draws = Array.from({ length: 50_000 }, () => rng.lognormal(40, 250)).sort((a, b) => a - b);
    expect(draws[25_000]! / 40).toBeCloseTo(1, 1);
    expect(draws[49_500]! / 250).toBeCloseTo(1, 1);
  });
});
