/** Diagnostics → JSON lines: what `fleet-agent run` writes on stderr. */
import { describe, expect, it } from 'vitest';
import { emit } from '../src/diagnostics.js';
import { startJsonLog } from '../src/log.js';
import { formatReport } from '../src/doctor/report.js';

describe('JSON log of diagnostics', () => {
  it('writes one JSON object per line at or above the level, with bigints and errors made readable', () => {
    const lines: string[] = [];
    const stop = startJsonLog({ level: 'info', write: (l) => lines.push(l), now: () => new Date(0) });
    emit('serial', 'debug', 'too_quiet', {});
    emit('publisher', 'error', 'spool_record_poison', { id: 12n, error: new Error('bad bytes') });
    stop();
    emit('serial', 'error', 'after_stop', {});
    expect(lines).toEqual([
      '{"time":"1970-01-01T00:00:00.000Z","level":"error","component":"publisher","event":"spool_record_poison","id":"12","error":{"name":"Error","message":"bad bytes"}}\n',
    ]);
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
