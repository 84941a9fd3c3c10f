/** Diagnostics → JSON lines: what `fleet-agent run` writes on stderr. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emit } from '../src/diagnostics.js';
import { isoUtc, startJsonLog } from '../src/log.js';
import { formatReport } from '../src/doctor/report.js';

describe('JSON log of diagnostics', () => {
  it('writes one JSON object per line at or above the level, with bigints and errors made readable', () => {
    const lines: string[] = [];
    const stop = startJsonLog({ level: 'info', write: (l) => lines.push(l), now: () => 0 });
    emit('serial', 'debug', 'too_quiet', {});
    emit('publisher', 'error', 'spool_record_poison', { id: 12n, error: new Error('bad bytes') });
    stop();
    emit('serial', 'error', 'after_stop', {});
    expect(lines).toEqual([
      '{"time":"1970-01-01T00:00:00.000Z","level":"error","component":"publisher","event":"spool_record_poison","id":"12","error":{"name":"Error","message":"bad bytes"}}\n',
    ]);
  });
});

describe('isoUtc', () => {
  it('formats like Date#toISOString for years 0000-9999 (leap days, century rules, the epoch)', () => {
    const fixed = [
      0, -1, 86_399_999, 951_782_400_000 /* 2000-02-29 */, 4_107_542_400_000 /* 2100-03-01 */,
      -62_167_219_200_000 /* 0000-01-01 */, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */,
      1_764_028_800_123,
    ];
    for (const ms of fixed) expect(isoUtc(ms)).toBe(new Date(ms).toISOString());
    fc.assert(
      fc.property(fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }), (ms) => {
        expect(isoUtc(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('doctor report', () => {
  it('lists each check with what to do, and sums up', () => {
    const text = formatReport('fleet-agent doctor', [
      { name: 'config', status: 'ok', summary: 'valid' },
      { name: 'serial', status: 'fail', summary: '/dev/ttyS1 does not exist', advice: ['check serial.path'] },
      { name: 'spool', status: 'warn', summary: 'writable', details: ['1 MiB used'] },
    ]);
    expect(text).toBe(
      [
        'fleet-agent doctor',
        '',
        '[ok]   config  valid',
        '[FAIL] serial  /dev/ttyS1 does not exist',
        '               -> check serial.path',
        '[warn] spool   writable',
        '               1 MiB used',
        '',
        'result: 1 check(s) failed (serial); warnings: spool',
        '',
      ].join('\n'),
    );
  });
});
