/**
 * The open windows of ONE key, kept in one value-state entry (one entry per key, not one per
 * window: a map entry per window costs a Map per key in the state backend, ~3x the bytes).
 *
 * `m` holds STRIDE numbers per window, sorted by start:
 *   start, end, revision (last emitted, -1 = never), anchor (start used in the output id; NaN =
 *   not emitted yet), firedEnd (end at the last watermark firing; NaN = not fired)
 * `a` holds the accumulators, same order.
 *
 * Binary layout of the codec (little-endian): u32 count, then per window 5 x f64 as above, u32 byte
 * length of the accumulator, the accumulator's bytes (its own codec).
 */
import type { Codec } from '@fleet/state';

export const STRIDE = 5;

export interface WindowSet<ACC> {
  readonly m: number[];
  readonly a: ACC[];
}

export function windowSetCodec<ACC>(acc: Codec<ACC>): Codec<WindowSet<ACC>> {
  return {
    encode(set) {
      const parts = set.a.map((x) => acc.encode(x));
      const n = parts.length;
      let size = 4;
      for (const p of parts) size += STRIDE * 8 + 4 + p.byteLength;
      const out = new Uint8Array(size);
      const view = new DataView(out.buffer);
      view.setUint32(0, n, true);
      let o = 4;
      for (let w = 0; w < n; w++) {
        for (let f = 0; f < STRIDE; f++, o += 8) view.setFloat64(o, set.m[w * STRIDE + f] as number, true);
        const p = parts[w] as Uint8Array;
        view.setUint32(o, p.byteLength, true);
        out.set(p, o + 4);
        o += 4 + p.byteLength;
      }
      return out;
    },
    decode(bytes) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const n = view.getUint32(0, true);
      const m: number[] = [];
      const a: ACC[] = [];
      let o = 4;
      for (let w = 0; w < n; w++) {
        for (let f = 0; f < STRIDE; f++, o += 8) m.push(view.getFloat64(o, true));
        const len = view.getUint32(o, true);
        a.push(acc.decode(bytes.subarray(o + 4, o + 4 + len)));
        o += 4 + len;
      }
      return { m, a };
    },
  };
}

/** Index of the window starting at `start`, or -1. */
export function findWindow(set: WindowSet<unknown>, start: number): number {
  const m = set.m;
  for (let w = 0, o = 0; o < m.length; w++, o += STRIDE) if (m[o] === start) return w;
  return -1;
}

/** Inserts a window keeping start order; returns its index. */
export function insertWindow<ACC>(set: WindowSet<ACC>, start: number, end: number, acc: ACC): number {
  let w = set.a.length;
  while (w > 0 && (set.m[(w - 1) * STRIDE] as number) > start) w--;
  set.m.splice(w * STRIDE, 0, start, end, -1, NaN, NaN);
  set.a.splice(w, 0, acc);
  return w;
}

export function removeWindow(set: WindowSet<unknown>, w: number): void {
  set.m.splice(w * STRIDE, STRIDE);
  set.a.splice(w, 1);
}
