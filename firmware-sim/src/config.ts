/**
 * The simulator's configuration: command-line arguments (and the site and faults files they name),
 * read once at start, validated, and handed on as one frozen object. Nothing else reads arguments,
 * files of configuration or the environment.
 *
 * Every error names the argument at fault (`--robots: must be an integer from 1 to 10000 (got
 * "abc")`); the CLI prints it and exits 2.
 */
import { parseArgs } from 'node:util';
import { MAX_EPOCH_MS, robotIdSchema } from '@fleet/protocol';
import { z } from 'zod';
import { DURATION_HINT, parseDuration } from './duration.js';
import { configError, errorMessage, SimError } from './errors.js';
import { siteSchema, type Site } from './physics/site.js';
import type { AckLatency } from './robot/commands.js';
import { faultsFileSchema, faultsFor, type InjectedFault } from './robot/faults.js';
import type { Speed } from './runner.js';
import { DEFAULT_BAUD_RATE } from './serial-link.js';

export const MAX_ROBOTS = 10_000;

export type Transport =
  | { readonly kind: 'pty'; readonly dir: string }
  | { readonly kind: 'devices'; readonly paths: readonly string[] };

export interface SimConfig {
  readonly robotIds: readonly string[];
  readonly transport: Transport;
  readonly seed: string;
  readonly speed: Speed;
  readonly sitePath: string;
  readonly site: Site;
  readonly faultsPath: string | undefined;
  /** Faults per robot, by index. */
  readonly faults: readonly (readonly InjectedFault[])[];
  readonly groundTruthPath: string | undefined;
  readonly sampleHz: number;
  /** Simulated time to run; undefined: until interrupted. */
  readonly durationMs: number | undefined;
  readonly baudRate: number;
  /** True time of the first boot, ms since the epoch. */
  readonly startTime: number;
  readonly ackLatency: AckLatency;
  readonly autoCleanEveryMs: number | undefined;
}

export type CliRequest = { readonly kind: 'help' } | { readonly kind: 'run'; readonly config: SimConfig };

/** What reading the configuration needs from the outside world. */
export interface ConfigIo {
  readFile(path: string): string;
  /** Wall clock, for the default start time. */
  now(): number;
  readonly defaultSitePath: string;
}

export const USAGE = `usage: npm run sim -- [options]

  --robots N              robots to simulate, each on its own serial line (default 1)
  --pty-dir DIR           create a PTY pair per robot; agents open DIR/robot-<i>.agent (i = 1..N)
  --device PATH           a real serial device, once per robot (instead of --pty-dir)
  --baud N                baud rate of --device lines (default 115200)
  --seed S                seed of every random draw (default 1)
  --speed K|max           simulated time K times the wall clock, or as fast as the lines take frames (default 1)
  --duration D            simulated time to run, e.g. 90s, 10m, 2h (default: until Ctrl-C)
  --site FILE             site map JSON (default firmware-sim/sites/default.json)
  --faults FILE           injected faults JSON (see firmware-sim/README.md)
  --ground-truth FILE     write ground truth as JSON lines
  --sample-hz HZ          samples per second per robot (default 10)
  --robot-id-prefix P     robot ids are P1..PN (default robot-)
  --start-time T          true time of the first boot, ISO 8601 or ms since the epoch (default now)
  --ack-median-ms MS      median command processing latency (default 40)
  --ack-p99-ms MS         99th percentile of that latency (default 250)
  --auto-clean-every D    each robot starts a cleaning run by itself this often
  --help                  this text`;

const OPTIONS = {
  robots: { type: 'string' },
  'pty-dir': { type: 'string' },
  device: { type: 'string', multiple: true },
  baud: { type: 'string' },
  seed: { type: 'string' },
  speed: { type: 'string' },
  duration: { type: 'string' },
  site: { type: 'string' },
  faults: { type: 'string' },
  'ground-truth': { type: 'string' },
  'sample-hz': { type: 'string' },
  'robot-id-prefix': { type: 'string' },
  'start-time': { type: 'string' },
  'ack-median-ms': { type: 'string' },
  'ack-p99-ms': { type: 'string' },
  'auto-clean-every': { type: 'string' },
  help: { type: 'boolean' },
} as const;

export function parseCli(argv: readonly string[], io: ConfigIo): CliRequest {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    const message = errorMessage(e);
    const option = /'(-{1,2}[^' ]+)/.exec(message)?.[1] ?? 'arguments';
    throw configError(option, message);
  }
  if (values.help === true) return { kind: 'help' };

  const devices = values.device ?? [];
  const robots =
    values.robots !== undefined
      ? integer('--robots', values.robots, 1, MAX_ROBOTS)
      : Math.max(1, devices.length);
  let transport: Transport;
  if (values['pty-dir'] !== undefined && devices.length > 0) {
    throw configError('--device', 'give either --pty-dir or --device, not both');
  } else if (values['pty-dir'] !== undefined) {
    transport = { kind: 'pty', dir: nonEmpty('--pty-dir', values['pty-dir']) };
  } else if (devices.length > 0) {
    if (devices.length !== robots)
      throw configError(
        '--device',
        `give one --device per robot (${robots} robots, ${devices.length} devices)`,
      );
    transport = { kind: 'devices', paths: devices.map((d) => nonEmpty('--device', d)) };
  } else {
    throw configError(
      '--pty-dir',
      'say where the serial lines are: --pty-dir DIR, or --device PATH per robot',
    );
  }

  const prefix = values['robot-id-prefix'] ?? 'robot-';
  const robotIds = Array.from({ length: robots }, (_, i) => `${prefix}${i + 1}`);
  for (const id of [robotIds[0]!, robotIds[robotIds.length - 1]!]) {
    if (!robotIdSchema.safeParse(id).success)
      throw configError(
        '--robot-id-prefix',
        `gives robot id "${id}", which must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}`,
      );
  }

  const sitePath = values.site ?? io.defaultSitePath;
  const site = fromFile('--site', sitePath, io, siteSchema);
  const faultsPath = values.faults;
  const faults = faultsPath === undefined ? robotIds.map(() => []) : loadFaults(faultsPath, io, robotIds);

  const ackMedianMs = number('--ack-median-ms', values['ack-median-ms'] ?? '40', 0.1, 600_000);
  const ackP99Ms = number('--ack-p99-ms', values['ack-p99-ms'] ?? '250', 0.1, 600_000);
  if (ackP99Ms < ackMedianMs)
    throw configError('--ack-p99-ms', `must not be below --ack-median-ms (${ackMedianMs})`);

  const config: SimConfig = {
    robotIds,
    transport,
    seed: values.seed ?? '1',
    speed: speed(values.speed ?? '1'),
    sitePath,
    site,
    faultsPath,
    faults,
    groundTruthPath:
      values['ground-truth'] === undefined ? undefined : nonEmpty('--ground-truth', values['ground-truth']),
    sampleHz: number('--sample-hz', values['sample-hz'] ?? '10', 0.1, 100),
    durationMs: values.duration === undefined ? undefined : duration('--duration', values.duration),
    baudRate: integer('--baud', values.baud ?? String(DEFAULT_BAUD_RATE), 300, 4_000_000),
    startTime: values['start-time'] === undefined ? Math.floor(io.now()) : startTime(values['start-time']),
    ackLatency: { medianMs: ackMedianMs, p99Ms: ackP99Ms },
    autoCleanEveryMs:
      values['auto-clean-every'] === undefined
        ? undefined
        : duration('--auto-clean-every', values['auto-clean-every']),
  };
  return { kind: 'run', config: deepFreeze(config) };
}

function loadFaults(path: string, io: ConfigIo, robotIds: readonly string[]): InjectedFault[][] {
  const file = fromFile('--faults', path, io, faultsFileSchema);
  const known = new Set(robotIds);
  file.faults.forEach((f, i) => {
    if (f.robots === '*') return;
    const unknown = f.robots.find((id) => !known.has(id));
    if (unknown !== undefined) {
      const range = `${robotIds[0]}..${robotIds[robotIds.length - 1]}`;
      throw configError('--faults', `faults[${i}].robots: no robot "${unknown}" in this run (${range})`);
    }
  });
  return robotIds.map((id) => faultsFor(file.faults, id));
}

function fromFile<T extends z.ZodType>(argument: string, path: string, io: ConfigIo, schema: T): z.output<T> {
  let json: unknown;
  try {
    json = JSON.parse(io.readFile(path));
  } catch (e) {
    throw configError(argument, `cannot read ${path}: ${errorMessage(e)}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '' : `${formatPath(issue.path)}: `;
    throw configError(argument, `${path}: ${where}${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function integer(argument: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw configError(argument, `must be an integer from ${min} to ${max} (got "${text}")`);
  return n;
}

function number(argument: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw configError(argument, `must be a number from ${min} to ${max} (got "${text}")`);
  return n;
}

function nonEmpty(argument: string, text: string): string {
  if (text.trim() === '') throw configError(argument, 'must not be empty');
  return text;
}

function speed(text: string): Speed {
  if (text === 'max') return 'max';
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 100_000)
    throw configError('--speed', `must be a positive number up to 100000, or max (got "${text}")`);
  return n;
}

function duration(argument: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw configError(argument, `must be ${DURATION_HINT} (got "${text}")`);
  return ms;
}

function startTime(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0 || ms >= MAX_EPOCH_MS)
    throw configError('--start-time', `must be an ISO 8601 time or ms since the epoch (got "${text}")`);
  return ms;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export function isConfigError(e: unknown): e is SimError {
  return e instanceof SimError && e.code === 'SIM_CONFIG';
}
