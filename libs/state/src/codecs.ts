/**
 * Codecs for state values. Every codec here is deterministic (equal values give equal bytes) and
 * returns a fresh, tightly sized `Uint8Array` from `encode`, which the caller may keep.
 *
 * Binary layouts (all numbers IEEE 754 float64, little-endian):
 * - `float64Codec`:        8 bytes.
 * - `float64ArrayCodec`:   8 bytes per element, no header (the length is byteLength / 8).
 * - `structCodec(fields)`: 8 bytes per field, in the order of `fields`; no names, no header.
 *   Adding or reordering fields is a schema change: give the state a new descriptor name.
 */
import type { Codec } from './api.js';
import { StateError } from './api.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/** JSON with object keys sorted (UTF-16 code unit order) at every depth, so equal values give equal bytes. */
function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * UTF-8 JSON with a stable key order. JSON's limits apply: `undefined` properties vanish, and NaN
 * and ±Infinity become `null`; use {@link structCodec} for numbers that can be non-finite.
 *
 * @example
 * const codec = jsonCodec<{ zone: string; visits: number }>();
 * codec.decode(codec.encode({ visits: 2, zone: 'a' })); // { visits: 2, zone: 'a' }
 */
export function jsonCodec<T = Json>(): Codec<T> {
  return {
    encode: (value) => encoder.encode(stableStringify(value)),
    decode: (bytes) => {
      try {
        return JSON.parse(decoder.decode(bytes)) as T;
      } catch (err) {
        throw new StateError('CORRUPT', `jsonCodec: undecodable bytes (${(err as Error).message})`);
      }
    },
  };
}

// Little-endian hosts (every platform Node ships for) copy float64 bytes straight; others go
// through a DataView.
const littleEndian = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;
const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);

/** One number as 8 bytes. */
export const float64Codec: Codec<number> = {
  encode(value) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setFloat64(0, value, true);
    return out;
  },
  decode(bytes) {
    if (bytes.byteLength !== 8)
      throw new StateError('CORRUPT', `float64Codec: ${bytes.byteLength} bytes, want 8`);
    if (littleEndian) {
      scratchBytes.set(bytes);
      return scratch[0] ?? 0;
    }
    return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true);
  },
};

/** A `Float64Array` as 8 bytes per element (e.g. a fixed-size window accumulator). */
export const float64ArrayCodec: Codec<Float64Array> = {
  encode(value) {
    if (littleEndian)
      return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
    const out = new Uint8Array(value.length * 8);
    const view = new DataView(out.buffer);
    for (let i = 0; i < value.length; i++) view.setFloat64(i * 8, value[i] ?? 0, true);
    return out;
  },
  decode(bytes) {
    if (bytes.byteLength % 8 !== 0) {
      throw new StateError('CORRUPT', `float64ArrayCodec: ${bytes.byteLength} bytes is not a multiple of 8`);
    }
    const out = new Float64Array(bytes.byteLength / 8);
    if (littleEndian) {
      new Uint8Array(out.buffer).set(bytes);
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
    }
    return out;
  },
};

/**
 * An object of numeric fields as 8 bytes per field, in the order given (40 bytes for a
 * `count/sum/min/max/last` accumulator, against ~60 as JSON).
 *
 * @example
 * const acc = structCodec(['count', 'sum', 'min', 'max', 'last']);
 * acc.decode(acc.encode({ count: 1, sum: 3.5, min: 3.5, max: 3.5, last: 3.5 })).sum; // 3.5
 */
/** A {@link structCodec}: its field names are public, so a consumer may pack such values itself. */
export interface StructCodec<K extends string> extends Codec<Record<K, number>> {
  readonly fields: readonly K[];
}

export function structCodec<const K extends string>(fields: readonly K[]): StructCodec<K> {
  const names = [...fields];
  if (new Set(names).size !== names.length) throw new TypeError('structCodec: duplicate field names');
  const n = names.length;
  const f64 = new Float64Array(n);
  const u8 = new Uint8Array(f64.buffer);
  return {
    fields: Object.freeze([...names]),
    encode(value) {
      for (let i = 0; i < n; i++) f64[i] = value[names[i] as K];
      if (!littleEndian) {
        const view = new DataView(f64.buffer);
        for (let i = 0; i < n; i++) view.setFloat64(i * 8, value[names[i] as K], true);
      }
      return u8.slice();
    },
    decode(bytes) {
      if (bytes.byteLength !== n * 8) {
        throw new StateError('CORRUPT', `structCodec: ${bytes.byteLength} bytes, want ${n * 8}`);
      }
      u8.set(bytes);
      if (!littleEndian) {
        const view = new DataView(f64.buffer);
        for (let i = 0; i < n; i++) f64[i] = view.getFloat64(i * 8, true);
      }
      const out = {} as Record<K, number>;
      for (let i = 0; i < n; i++) out[names[i] as K] = f64[i] ?? 0;
      return out;
    },
  };
}
