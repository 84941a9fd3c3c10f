/**
 * The agent's serial position: which frames are settled in the spool (durable-position.ts), the
 * spool writer settling them, and the file that keeps the position between runs (position-file.ts,
 * on the real filesystem in a temporary directory).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurablePosition } from '../src/ingest/durable-position.js';
import { parsePosition, POSITION_FILE, PositionRecorder, positionFile } from '../src/ingest/position-file.js';
import { SpoolWriter } from '../src/ingest/spool-writer.js';
import { Backoff } from '../src/retry.js';
import type { SerialPosition } from '../src/serial/resume.js';
import { openFileSpool, type FileSpool } from '../src/spool/file-spool.js';
import { SpoolError } from '../src/spool/spool.js';
import { ManualClock, settle } from './support/manual-clock.js';
import { MemorySpool } from './support/memory-spool.js';

describe('DurablePosition', () => {
  it('moves over the longest settled prefix, whatever order the two spool classes settle in', () => {
    const moves: SerialPosition[] = [];
    const p = new DurablePosition({ bootId: 1, seq: 9 }, (at) => moves.push(at));
    const s10 = p.track(1, 10); // telemetry
    const e11 = p.track(1, 11); // an event: priority
    const s12 = p.track(1, 12);
    s12();
    s10();
    expect(p.position).toEqual({ bootId: 1, seq: 10 }); // 11 is not in yet
    e11();
    expect(p.position).toEqual({ bootId: 1, seq: 12 });
    expect(moves).toEqual([
      { bootId: 1, seq: 10 },
      { bootId: 1, seq: 12 },
    ]);
    expect(p.pending).toBe(0);
  });

  it('an ack has no seq: never the position itself, but the position waits for it to settle', () => {
    const moves: SerialPosition[] = [];
    const p = new DurablePosition({ bootId: 1, seq: 9 }, (at) => moves.push(at));
    const s10 = p.track(1, 10);
    const ack = p.trackAck();
    const s11 = p.track(1, 11);
    s11();
    ack();
    expect(p.position).toEqual({ bootId: 1, seq: 9 });
    s10();
    expect(p.position).toEqual({ bootId: 1, seq: 11 });
    const lastAck = p.trackAck();
    lastAck();
    expect(p.position).toEqual({ bootId: 1, seq: 11 }); // an ack alone moves nothing
    expect(moves).toEqual([{ bootId: 1, seq: 11 }]);
    expect(p.pending).toBe(0);
  });

  it('crosses a reboot like any frame, and ignores a second settle', () => {
    const p = new DurablePosition(undefined, () => undefined);
    expect(p.position).toBeUndefined();
    const a = p.track(1, 500);
    const b = p.track(2, 0);
    b();
    b();
    expect(p.position).toBeUndefined();
    a();
    expect(p.position).toEqual({ bootId: 2, seq: 0 });
  });
});

describe('SpoolWriter settles what it has stored or dropped by policy (in-memory spool stands in for the file spool)', () => {
  it('settles after the append resolved, on SPOOL_FULL drops, never on a fatal failure', async () => {
    const spool = new MemorySpool();
    const outcomes: (Error | undefined)[] = [
      undefined,
      new SpoolError('SPOOL_FULL', 'full', false),
      new SpoolError('SPOOL_CORRUPT', 'bad', false),
    ];
    const w = new SpoolWriter({
      spool: {
        appendMany: async (cls, payloads) => {
          await settle();
          const outcome = outcomes.shift();
          if (outcome !== undefined) throw outcome;
          return spool.appendMany(cls, payloads);
        },
      },
      clock: new ManualClock(),
      backoff: new Backoff({ initialMs: 10, maxMs: 100, jitter: 0 }),
      onAppended: () => undefined,
      onFatal: () => undefined,
    });
    const settled: number[] = [];
    w.write('telemetry', Uint8Array.of(1), () => settled.push(1));
    expect(settled).toEqual([]); // not before the spool has it
    await w.flush();
    expect(settled).toEqual([1]);
    w.write('telemetry', Uint8Array.of(2), () => settled.push(2));
    await w.flush();
    expect(settled).toEqual([1, 2]); // dropped by the stated policy: the position may pass it
    w.write('telemetry', Uint8Array.of(3), () => settled.push(3));
    await w.flush();
    expect(settled).toEqual([1, 2]);
  });

  it('settles telemetry it drops from a full queue', async () => {
    const w = new SpoolWriter({
      spool: { appendMany: () => new Promise(() => undefined) }, // a disk that never answers
      clock: new ManualClock(),
      backoff: new Backoff({ initialMs: 10, maxMs: 100, jitter: 0 }),
      maxQueued: 2,
      onAppended: () => undefined,
      onFatal: () => undefined,
    });
    const settled: number[] = [];
    for (let n = 0; n < 5; n++) w.write('telemetry', Uint8Array.of(n), () => settled.push(n));
    // 0 is being written; 1..4 queue behind it, two at most: 1 and 2 are dropped.
    expect(settled).toEqual([1, 2]);
  });
});

describe('position file (real filesystem)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleet-agent-position-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is absent at first, then holds the last position saved, written through a renamed temporary file', async () => {
    const store = positionFile({ dir, fsync: true });
    expect(await store.load()).toBeUndefined();
    await store.save({ bootId: 0x5eed_0002, seq: 1233 });
    await store.save({ bootId: 0x5eed_0002, seq: 1234 });
    expect(await store.load()).toEqual({ bootId: 0x5eed_0002, seq: 1234 });
    expect(await readdir(dir)).toEqual([POSITION_FILE]);
    expect(await readFile(join(dir, POSITION_FILE), 'utf8')).toBe(
      '{"version":1,"bootId":1592590338,"seq":1234}\n',
    );
    // A temporary file left by a crash before its rename changes nothing.
    await writeFile(join(dir, `${POSITION_FILE}.tmp`), '{"version":1,"bo');
    expect(await positionFile({ dir, fsync: false }).load()).toEqual({ bootId: 0x5eed_0002, seq: 1234 });
  });

  it('reads anything that is not a position as no position', async () => {
    await writeFile(join(dir, POSITION_FILE), 'garbage');
    expect(await positionFile({ dir, fsync: false }).load()).toBeUndefined();
    for (const text of [
      '{"version":2,"bootId":1,"seq":1}',
      '{"version":1,"bootId":-1,"seq":1}',
      '{"version":1,"bootId":1,"seq":4294967296}',
      '{"version":1,"bootId":1}',
      'null',
      '[1,2]',
    ]) {
      expect([text, parsePosition(text)]).toEqual([text, undefined]);
    }
  });
});

describe('PositionRecorder', () => {
  it('writes one position at a time and only the newest of those that came meanwhile', async () => {
    const saves: SerialPosition[] = [];
    let release: () => void = () => undefined;
    const recorder = new PositionRecorder(
      {
        save: async (p) => {
          saves.push(p);
          await new Promise<void>((done) => (release = done));
        },
      },
      async () => true,
    );
    recorder.record({ bootId: 1, seq: 1 });
    await settle(); // the first save is under way
    for (let seq = 2; seq <= 50; seq++) recorder.record({ bootId: 1, seq });
    release();
    await settle();
    release();
    await recorder.flush();
    expect(saves).toEqual([
      { bootId: 1, seq: 1 },
      { bootId: 1, seq: 50 },
    ]);
    expect(recorder.stats()).toEqual({
      saves: 2,
      failures: 0,
      notDurable: 0,
      position: { bootId: 1, seq: 50 },
    });
  });

  it('reports a failed write and goes on with the next position', async () => {
    let fail = true;
    const recorder = new PositionRecorder(
      {
        save: async () => {
          if (fail) throw new Error('EIO');
        },
      },
      async () => true,
    );
    recorder.record({ bootId: 1, seq: 1 });
    await recorder.flush();
    fail = false;
    recorder.record({ bootId: 1, seq: 2 });
    await recorder.flush();
    expect(recorder.stats()).toEqual({
      saves: 1,
      failures: 1,
      notDurable: 0,
      position: { bootId: 1, seq: 2 },
    });
  });
});

describe('the position file waits for the spool to make its frames durable (real file spool, real files)', () => {
  let dir: string;
  let spool: FileSpool | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleet-agent-position-durable-'));
  });
  afterEach(async () => {
    await spool?.close().catch(() => undefined);
    spool = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** Spool writer → durable position → recorder → position file, as the agent wires them. */
  function wire(s: FileSpool, clock: ManualClock) {
    const fsyncs: number[] = [];
    const store = positionFile({ dir, fsync: false });
    const recorder = new PositionRecorder(
      {
        save: async (p) => {
          fsyncs.push(p.seq);
          await store.save(p);
        },
      },
      () => s.durable(),
    );
    const position = new DurablePosition(undefined, (p) => recorder.record(p));
    const writer = new SpoolWriter({
      spool: s,
      clock,
      backoff: new Backoff({ initialMs: 10, maxMs: 100, jitter: 0 }),
      onAppended: () => undefined,
      onFatal: (e) => {
        throw e;
      },
    });
    const frames = async (from: number, to: number) => {
      for (let seq = from; seq <= to; seq++) {
        writer.write(seq % 5 === 0 ? 'priority' : 'telemetry', Uint8Array.of(seq), position.track(7, seq));
      }
      await writer.flush();
      await settle();
    };
    return { store, recorder, position, frames, saved: fsyncs };
  }

  it('fsync interval: the file moves only after the interval fsync, so it is never ahead of what a power loss leaves', async () => {
    const clock = new ManualClock();
    spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'interval', fsyncIntervalMs: 1000, clock });
    const { store, recorder, position, frames, saved } = wire(spool, clock);

    await frames(1, 12);
    // Appended (they would survive kill -9) and settled, but not synced: a power loss now could
    // take them, so the file must not say the agent has them.
    expect(position.position).toEqual({ bootId: 7, seq: 12 });
    expect(await store.load()).toBeUndefined();
    expect(saved).toEqual([]);

    await clock.advanceAsync(1000); // the interval fsync
    await recorder.flush();
    expect(await store.load()).toEqual({ bootId: 7, seq: 12 });

    await frames(13, 20);
    expect(await store.load()).toEqual({ bootId: 7, seq: 12 });
    await clock.advanceAsync(1000);
    await recorder.flush();
    expect(await store.load()).toEqual({ bootId: 7, seq: 20 });
    // Each write waited for a sync: the position recorded first (1, 13) once its sync is done, then
    // the newest, which that sync covered too. Never one write per frame.
    expect(saved).toEqual([1, 12, 13, 20]);
  });

  it('fsync never: the spool promises nothing durable, so no position is written', async () => {
    const clock = new ManualClock();
    spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'never', clock });
    const { store, recorder, frames } = wire(spool, clock);
    await frames(1, 5);
    await recorder.flush();
    expect(await store.load()).toBeUndefined();
    expect(recorder.stats().saves).toBe(0);
    expect(recorder.stats().notDurable).toBeGreaterThan(0);
  });
});
