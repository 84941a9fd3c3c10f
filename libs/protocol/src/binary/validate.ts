/**
 * Turns zod's verdict (or that of the binary codecs' hand-written checks, checks.ts) into the package's one error: INVALID_MESSAGE whose text names each offending
 * path and the problem, so a dead-letter record says what was wrong without a debugger.
 */
import type { z } from 'zod';
import { ProtocolError, ProtocolErrorCode } from '../errors.js';

const MAX_LISTED_ISSUES = 5;

export interface IssueSummary {
  readonly path: string;
  readonly message: string;
}

/** `['samples', 3, 'voltageMv']` → `samples[3].voltageMv`; the empty path is `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

export function summarizeIssues(issues: readonly z.core.$ZodIssue[]): IssueSummary[] {
  return issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

export function issuesError(context: string, issues: readonly z.core.$ZodIssue[]): ProtocolError {
  return issuesErrorFromSummary(context, summarizeIssues(issues));
}

/** The error of `issuesError` from issues already summarized (the hand-written checks, checks.ts). */
export function issuesErrorFromSummary(context: string, summary: readonly IssueSummary[]): ProtocolError {
  const listed = summary
    .slice(0, MAX_LISTED_ISSUES)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
  const more = summary.length > MAX_LISTED_ISSUES ? ` (+${summary.length - MAX_LISTED_ISSUES} more)` : '';
  return new ProtocolError(ProtocolErrorCode.INVALID_MESSAGE, `invalid ${context}: ${listed}${more}`, {
    issues: summary,
  });
}

/** Parses `value` with `schema` or throws INVALID_MESSAGE naming every failing path. */
export function validated<S extends z.ZodType>(schema: S, value: unknown, context: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw issuesError(context, result.error.issues);
  return result.data;
}
