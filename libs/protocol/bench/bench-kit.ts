/**
 * Helpers shared by the protocol benches: seeded data, statistics, the machine a run happened on,
 * the printed table, and where and how result JSON is written. Nothing here is timed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Deterministic PRNG (mulberry32) so every run measures the same data. Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Median of `values` (mean of the middle two for an even count; 0 for none). Does not sort in place. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** `n` rounded to two decimals. */
export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Where and when a bench ran; spread into a result right after its `bench` name. */
export interface Machine {
  /** ISO 8601, taken when `machine()` is called. */
  readonly timestamp: string;
  /** `process.version`, e.g. `v20.19.0`. */
  readonly node: string;
  /** Model of the first CPU, or `unknown`. */
  readonly cpu: string;
  /** Logical CPU count. */
  readonly cores: number;
}

/** The current time, Node version and CPU, in the key order the result files use. */
export function machine(): Machine {
  const cpuList = cpus();
  return {
    timestamp: new Date().toISOString(),
    node: process.version,
    cpu: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
  };
}

/**
 * Right-aligned text table: `rows[0]` is the header, followed by a line of dashes as wide as each
 * column; columns are separated by two spaces. Returns the lines joined with `\n`.
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  const lines = rows.map((r) => r.map((cell, col) => cell.padStart(widths[col] ?? 0)).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines.join('\n');
}

/** What a bench prints after a run; see `textReport`. */
export interface TextReport {
  /** What was measured; the first line is this, ` — `, then the machine. */
  readonly title: string;
  readonly machine: Machine;
  /** Header row first, as for `formatTable`. */
  readonly rows: readonly (readonly string[])[];
  /** Line printed above `ratios`, when there are any. */
  readonly ratiosHeading: string;
  /** One line per ratio, indented by the caller. */
  readonly ratios: readonly string[];
}

/**
 * A bench's printed report: `<title> — <node>, <cpu> (<cores> cores), <timestamp>`, the table of
 * `rows`, then, when there are any, `ratiosHeading` and the `ratios` lines. Joined with `\n`.
 */
export function textReport(report: TextReport): string {
  const { node, cpu, cores, timestamp } = report.machine;
  const ratios = report.ratios.length > 0 ? [report.ratiosHeading, ...report.ratios] : [];
  return [
    `${report.title} — ${node}, ${cpu} (${cores} cores), ${timestamp}`,
    formatTable(report.rows),
    ...ratios,
  ].join('\n');
}

/** `fileName` in bench-results/ at the repository root, wherever the command is run from. */
export function resultPath(fileName: string): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench-results', fileName);
}

/** Writes `value` as pretty-printed JSON with a trailing newline, creating the folder if needed. */
export function writeResult(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** True when the module whose `import.meta.url` is given is the script Node was started with. */
export function isMain(importMetaUrl: string): boolean {
  return process.argv[1] !== undefined && importMetaUrl === pathToFileURL(resolve(process.argv[1])).href;
}

/**
 * What a bench does when it is the script Node was started with (`isMain(importMetaUrl)`): runs
 * `measure`, prints `format` of the result, writes the result as JSON to `path` and says where.
 * Imported by another script, it does nothing.
 */
export function runMain<R>(
  importMetaUrl: string,
  measure: () => R,
  format: (result: R) => string,
  path: string,
): void {
  if (!isMain(importMetaUrl)) return;
  const result = measure();
  console.log(format(result));
  writeResult(path, result);
  console.log(`\nwrote ${path}`);
}
