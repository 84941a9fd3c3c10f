/**
 * Diagnostics → one JSON object per line on stderr:
 *   {"time":"2025-01-01T12:00:00.000Z","level":"warn","component":"serial","event":"serial_seq_gap","bootId":7,...}
 * Only the agent's application shell (main.ts, cli.ts) installs this; everything else just emits.
 */
import { DIAGNOSTIC_LEVELS, subscribeDiagnostics, type DiagnosticLevel } from './diagnostics.js';

export interface JsonLogOptions {
  readonly level: DiagnosticLevel;
  readonly write: (line: string) => void;
  readonly now?: () => Date;
}

export function startJsonLog(options: JsonLogOptions): () => void {
  const min = DIAGNOSTIC_LEVELS.indexOf(options.level);
  const now = options.now ?? (() => new Date());
  return subscribeDiagnostics((d) => {
    if (DIAGNOSTIC_LEVELS.indexOf(d.level) < min) return;
    const record = {
      time: now().toISOString(),
      level: d.level,
      component: d.component,
      event: d.event,
      ...d.fields,
    };
    options.write(`${JSON.stringify(record, jsonSafe)}\n`);
  });
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
