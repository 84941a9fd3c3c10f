/** JSON for jsonb columns: bigint (offsets) becomes a decimal string; key order kept as emitted. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null';
}
