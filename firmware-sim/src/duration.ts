/**
 * Durations as people write them in a CLI or a faults file: `500ms`, `90s`, `10m`, `2h`, `1d`,
 * fractions allowed (`1.5h`). A bare number has no unit and is refused here; JSON files may give
 * plain numbers, which mean milliseconds (see faults.ts).
 */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds in `text`, rounded to an integer, or undefined when `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = PATTERN.exec(text.trim());
  if (match === null) return undefined;
  const unit = match[2] as keyof typeof UNIT_MS;
  return Math.round(Number(match[1]) * UNIT_MS[unit]);
}

export const DURATION_HINT = 'a duration with a unit, e.g. 500ms, 90s, 10m, 2h, 1d';
