/**
 * Readable times for job tests: `at('10:00:05')` is 10:00:05 UTC on TEST_DAY, `duration('1m30s')`
 * is 90 000 ms.
 */

/** The day `at('hh:mm:ss')` refers to: 2024-01-01 (UTC). */
export const TEST_DAY = Date.UTC(2024, 0, 1);

/** `'hh:mm'`, `'hh:mm:ss'` or `'hh:mm:ss.mmm'` on TEST_DAY (UTC), or a full ISO date-time. */
export function at(time: string): number {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(time);
  if (m !== null) {
    const [, h, min, s, ms] = m;
    return (
      TEST_DAY +
      ((Number(h) * 60 + Number(min)) * 60 + Number(s ?? 0)) * 1000 +
      Number((ms ?? '0').padEnd(3, '0'))
    );
  }
  const t = Date.parse(time);
  if (Number.isNaN(t)) throw new RangeError(`at(): cannot read ${JSON.stringify(time)}`);
  return t;
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `'500ms'`, `'2s'`, `'1m30s'`, `'6h'`, or a number of ms. */
export function duration(d: string | number): number {
  if (typeof d === 'number') return d;
  let total = 0;
  let rest = d.trim();
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/;
  if (rest === '') throw new RangeError('duration(): empty');
  while (rest !== '') {
    const m = part.exec(rest);
    if (m === null) throw new RangeError(`duration(): cannot read ${JSON.stringify(d)}`);
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** ISO form of an event time, for readable assertion messages. */
export function iso(t: number): string {
  return new Date(t).toISOString();
}
