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

/** Grows a typed array to at least `n` elements (doubling), filling new slots with `fill`. */
export function grow<A extends Float64Array | Uint8Array>(a: A, n: number, fill: number): A {
  if (n <= a.length) return a;
  let size = Math.max(16, a.length);
  while (size < n) size *= 2;
  const b = new (a.constructor as new (n: number) => A)(size);
  b.set(a);
  b.fill(fill, a.length);
  return b;
}
