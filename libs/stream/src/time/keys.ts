/**
 * The keys (robot ids) a partition task has seen, each given a dense index once, so per-key figures
 * (watermarks, timers) live in typed arrays indexed by it instead of one object per key.
 * Indices are never reused within a task; a restore rebuilds them in the checkpoint's order.
 */
export class KeyTable {
  private readonly index = new Map<string, number>();
  readonly names: string[] = [];

  get size(): number {
    return this.names.length;
  }

  /** The key's index, registering it if new. */
  intern(key: string): number {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.names.length;
      this.index.set(key, i);
      this.names.push(key);
    }
    return i;
  }

  find(key: string): number | undefined {
    return this.index.get(key);
  }

  name(i: number): string {
    return this.names[i] as string;
  }
}

/**
 * Grows a typed array to at least `n` elements, filling new slots with `fill`: doubling while
 * small, then by an eighth, so that 100k keys leave at most ~12% unused slots (the copies this
 * costs are amortised over the n/8 keys added in between).
 */
export function grow<A extends Float64Array | Uint8Array | Int32Array>(a: A, n: number, fill: number): A {
  if (n <= a.length) return a;
  let size = Math.max(16, a.length);
  while (size < n) size = size < 4096 ? size * 2 : size + (size >> 3);
  const b = new (a.constructor as new (n: number) => A)(size);
  b.set(a);
  b.fill(fill, a.length);
  return b;
}
