/** The result of each doctor check, and the plain-text report a robot builder reads. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  /** One line: what was found. */
  readonly summary: string;
  /** Further facts, one per line. */
  readonly details?: readonly string[];
  /** What to do about a warning or failure. */
  readonly advice?: readonly string[];
}

const LABEL: Record<CheckStatus, string> = { ok: '[ok]  ', warn: '[warn]', fail: '[FAIL]' };

export function formatReport(title: string, checks: readonly CheckResult[]): string {
  const width = Math.max(...checks.map((c) => c.name.length), 6);
  const lines = [title, ''];
  for (const c of checks) {
    lines.push(`${LABEL[c.status]} ${c.name.padEnd(width)}  ${c.summary}`);
    const indent = ' '.repeat(7 + width + 2);
    for (const d of c.details ?? []) lines.push(`${indent}${d}`);
    for (const a of c.advice ?? []) lines.push(`${indent}-> ${a}`);
  }
  const failed = checks.filter((c) => c.status === 'fail').map((c) => c.name);
  const warned = checks.filter((c) => c.status === 'warn').map((c) => c.name);
  lines.push('');
  if (failed.length === 0) {
    lines.push(
      warned.length === 0
        ? 'result: all checks passed'
        : `result: passed with warnings (${warned.join(', ')})`,
    );
  } else {
    lines.push(
      `result: ${failed.length} check(s) failed (${failed.join(', ')})${warned.length > 0 ? `; warnings: ${warned.join(', ')}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
