import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCli, type ConfigIo, type SimConfig } from '../src/config.js';
import { SimError } from '../src/errors.js';

const DEFAULT_SITE = fileURLToPath(new URL('../sites/default.json', import.meta.url));
const NOW = Date.UTC(2025, 4, 1);

function io(files: Record<string, string> = {}): ConfigIo {
  return {
    readFile: (p) => files[p] ?? readFileSync(p, 'utf8'),
    now: () => NOW,
    defaultSitePath: DEFAULT_SITE,
  };
}

function config(argv: string[], files?: Record<string, string>): SimConfig {
  const request = parseCli(argv, io(files));
  if (request.kind !== 'run') throw new Error('expected a run');
  return request.config;
}

function errorOf(argv: string[], files?: Record<string, string>): SimError {
  try {
    parseCli(argv, io(files));
  } catch (e) {
    if (e instanceof SimError) return e;
    throw e;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('has defaults for everything but where the lines are', () => {
    const c = config(['--pty-dir', '/tmp/fleet']);
    expect(c).toMatchObject({
      robotIds: ['robot-1'],
      transport: { kind: 'pty', dir: '/tmp/fleet' },
      seed: '1',
      speed: 1,
      sampleHz: 10,
      baudRate: 115_200,
      startTime: NOW,
      durationMs: undefined,
      ackLatency: { medianMs: 40, p99Ms: 250 },
    });
    expect(c.site.siteId).toBe('demo-apartment');
    expect(c.site.zones.length).toBeGreaterThanOrEqual(4);
  });

  it('reads every option, and hands the result on frozen', () => {
    const c = config([
      '--robots',
      '3',
      '--pty-dir',
      'd',
      '--seed',
      'abc',
      '--speed',
      'max',
      '--duration',
      '2h',
      '--sample-hz',
      '5',
      '--robot-id-prefix',
      'vac-',
      '--start-time',
      '2025-01-01T00:00:00Z',
      '--ack-median-ms',
      '10',
      '--ack-p99-ms',
      '90',
      '--ground-truth',
      't.jsonl',
      '--auto-clean-every',
      '6h',
    ]);
    expect(c.robotIds).toEqual(['vac-1', 'vac-2', 'vac-3']);
    expect(c).toMatchObject({
      seed: 'abc',
      speed: 'max',
      durationMs: 7_200_000,
      sampleHz: 5,
      startTime: Date.UTC(2025, 0, 1),
    });
    expect(c).toMatchObject({
      groundTruthPath: 't.jsonl',
      autoCleanEveryMs: 21_600_000,
      ackLatency: { medianMs: 10, p99Ms: 90 },
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.site.zones[0])).toBe(true);
    expect(() => (c.robotIds as string[]).push('x')).toThrow();
  });

  it('takes one --device per robot', () => {
    expect(config(['--device', '/dev/ttyS1']).transport).toEqual({ kind: 'devices', paths: ['/dev/ttyS1'] });
    expect(config(['--device', '/dev/a', '--device', '/dev/b']).robotIds).toHaveLength(2);
    expect(errorOf(['--robots', '2', '--device', '/dev/a']).argument).toBe('--device');
    expect(errorOf(['--pty-dir', 'd', '--device', '/dev/a']).argument).toBe('--device');
  });

  it.each([
    [['--robots', 'abc', '--pty-dir', 'd'], '--robots', /integer from 1 to 10000 \(got "abc"\)/],
    [['--robots', '0', '--pty-dir', 'd'], '--robots', /integer/],
    [['--pty-dir', 'd', '--speed', 'fast'], '--speed', /positive number .* or max/],
    [['--pty-dir', 'd', '--duration', '600'], '--duration', /with a unit/],
    [['--pty-dir', 'd', '--sample-hz', '1000'], '--sample-hz', /0\.1 to 100/],
    [['--pty-dir', 'd', '--robot-id-prefix', 'a/b'], '--robot-id-prefix', /must match/],
    [['--pty-dir', 'd', '--start-time', 'yesterday'], '--start-time', /ISO 8601/],
    [['--pty-dir', 'd', '--ack-median-ms', '300'], '--ack-p99-ms', /not be below/],
    [['--pty-dir', 'd', '--bogus'], '--bogus', /Unknown option/],
    [[], '--pty-dir', /--pty-dir DIR, or --device PATH/],
    [['--pty-dir', 'd', '--site', '/nonexistent.json'], '--site', /cannot read \/nonexistent\.json/],
  ])('refuses %j, naming %s', (argv, argument, message) => {
    const e = errorOf(argv);
    expect(e.argument).toBe(argument);
    expect(e.message).toMatch(new RegExp(`^${argument}: `));
    expect(e.message).toMatch(message);
  });

  it('names the field of a site or faults file that is wrong', () => {
    const site = JSON.parse(readFileSync(DEFAULT_SITE, 'utf8')) as { zones: { maxXMm: number }[] };
    site.zones[1]!.maxXMm = 999_999;
    expect(
      errorOf(['--pty-dir', 'd', '--site', 's.json'], { 's.json': JSON.stringify(site) }).message,
    ).toMatch(/^--site: s\.json: zones\[1\]\.maxXMm: /);
    const faults = { faults: [{ type: 'slow_acks', robots: ['robot-9'], start: 0, multiplier: 2 }] };
    expect(
      errorOf(['--robots', '2', '--pty-dir', 'd', '--faults', 'f.json'], { 'f.json': JSON.stringify(faults) })
        .message,
    ).toBe('--faults: faults[0].robots: no robot "robot-9" in this run (robot-1..robot-2)');
    const bad = { faults: [{ type: 'overheat', robots: '*', start: 'soon' }] };
    expect(
      errorOf(['--pty-dir', 'd', '--faults', 'f.json'], { 'f.json': JSON.stringify(bad) }).message,
    ).toMatch(/^--faults: f\.json: faults\[0\]\.start: must be a duration/);
  });

  it('gives each robot its faults from the file', () => {
    const faults = {
      faults: [
        { type: 'brownout', robots: ['robot-2'], start: '10m' },
        { type: 'overheat', robots: '*', start: 0 },
      ],
    };
    const c = config(['--robots', '2', '--pty-dir', 'd', '--faults', 'f.json'], {
      'f.json': JSON.stringify(faults),
    });
    expect(c.faults.map((fs) => fs.map((f) => f.faultId))).toEqual([['fault-1'], ['fault-0', 'fault-1']]);
  });

  it('accepts the shipped example faults file for three robots', () => {
    const example = fileURLToPath(new URL('../faults/example.json', import.meta.url));
    const c = config(['--robots', '3', '--pty-dir', 'd', '--faults', example]);
    expect(c.faults.map((fs) => fs.map((f) => f.type))).toEqual([
      ['clock_drift', 'brownout'],
      ['slow_acks', 'missing_acks', 'brownout'],
      ['sensor_stuck', 'overheat', 'brownout'],
    ]);
  });
});
