/**
 * Diagnostics → one JSON object per line on stderr:
 *   {"time":"2025-01-01T12:00:00.000Z","level":"warn","component":"serial","event":"serial_seq_gap","bootId":7,...}
 * Only the agent's application shell (main.ts, cli.ts) installs this; everything else just emits.
 */
import { DIAGNOSTIC_LEVELS, subscribeDiagnostics, type DiagnosticLevel } from './diagnostics.js';

export interface JsonLogOptions {
  readonly level: DiagnosticLevel;
  readonly write: (line: string) => void;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
}

export function startJsonLog(options: JsonLogOptions): () => void {
  const min = DIAGNOSTIC_LEVELS.indexOf(options.level);
  const now = options.now ?? Date.now;
  return subscribeDiagnostics((d) => {
    if (DIAGNOSTIC_LEVELS.indexOf(d.level) < min) return;
    const record = {
      time: isoUtc(now()),
      level: d.level,
      component: d.component,
      event: d.event,
      ...d.fields,
    };
    options.write(`${JSON.stringify(record, jsonSafe)}\n`);
  });
}

/**
 * `new Date(ms).toISOString()` without the Date: V8's toISOString looks up the local time zone on
 * first use, which loads ICU's time-zone data and code (~1 MB of the agent's RSS; found with gdb on
 * icu::OlsonTimeZone). Civil date from days since the epoch: the proleptic Gregorian calendar in
 * 400-year eras. Valid for years 0000-9999; test/log.test.ts compares it with toISOString.
 */
export function isoUtc(ms: number): string {
  const t = Math.floor(ms);
  const days = Math.floor(t / 86_400_000);
  const msOfDay = t - days * 86_400_000;
  const z = days + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097; // [0, 146096]
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100)); // [0, 365], from March 1st
  const mp = Math.floor((5 * doy + 2) / 153); // [0, 11], March = 0
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(msOfDay / 3_600_000);
  const minutes = Math.floor(msOfDay / 60_000) % 60;
  const seconds = Math.floor(msOfDay / 1000) % 60;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}.${pad(msOfDay % 1000, 3)}Z`;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
