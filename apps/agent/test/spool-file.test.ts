/**
 * The file spool against the shared Spool contract, once per fsync policy, plus what only a file
 * spool has (segments, group commit, the interval timer, the lock, I/O errors, corruption on read).
 *
 * Unit tier, but real files: every test works in its own directory under the OS temp dir, because
 * a spool that is not on a real file system is not the thing under test. The crash tests (kill -9,
 * torn tails) are in spool-crash.int.test.ts.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, readdir, rm, stat, symlink, writeFile, open as openFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentDiagnostic } from '../src/diagnostics.js';
import { openFileSpool, type FileSpool, type FileSpoolOptions } from '../src/spool/file-spool.js';
import { SpoolError } from '../src/spool/spool.js';
import { describeSpoolContract, payloadOf, type SpoolHarness } from './spool/contract.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'fleet-spool-'));
}

function fileHarness(fsync: FileSpoolOptions['fsync']): () => Promise<SpoolHarness> {
  return async () => {
    const dir = await tempDir();
    return {
      open: (limits) =>
        openFileSpool({
          dir,
          fsync,
          fsyncIntervalMs: 20,
          ...limits,
          // Small segments, so that rolling, sealing, deleting, dropping and reloading segment
          // indexes (more than 8 segments) all happen within a test.
          segmentBytes: Math.min(1024, Math.floor(limits.maxBytes / 8)),
        }),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  };
}

for (const fsync of ['always', 'interval', 'never'] as const) {
  describeSpoolContract(`file spool, fsync ${fsync}`, fileHarness(fsync), {
    numRuns: fsync === 'always' ? 30 : 50,
  });
}

/** Collects what the spool publishes on `fleet:agent:spool`. */
function recordDiagnostics(): { events: AgentDiagnostic[]; stop(): void } {
  const events: AgentDiagnostic[] = [];
  const listener = (message: unknown): void => {
    events.push(message as AgentDiagnostic);
  };
  diagnosticsChannel.subscribe('fleet:agent:spool', listener);
  return { events, stop: () => diagnosticsChannel.unsubscribe('fleet:agent:spool', listener) };
}

/** A clock whose timers run when the test says so. */
function manualClock() {
  const timers = new Map<object, () => void>();
  return {
    setTimeout: (fn: () => void) => {
      const handle = {};
      timers.set(handle, fn);
      return handle;
    },
    clearTimeout: (handle: object) => void timers.delete(handle),
    pending: () => timers.size,
    fire: () => {
      const due = [...timers.values()];
      timers.clear();
      for (const fn of due) fn();
    },
  };
}

describe('file spool', () => {
  let dir: string;
  let spools: FileSpool[];
  let diagnostics: ReturnType<typeof recordDiagnostics>;

  beforeEach(async () => {
    dir = await tempDir();
    spools = [];
    diagnostics = recordDiagnostics();
  });
  afterEach(async () => {
    diagnostics.stop();
    for (const s of spools) await s.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  async function open(options: Partial<FileSpoolOptions> = {}): Promise<FileSpool> {
    const spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'always', ...options });
    spools.push(spool);
    return spool;
  }

  const segmentFiles = async (): Promise<string[]> =>
    (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
  const fsyncs = (): AgentDiagnostic[] => diagnostics.events.filter((d) => d.event === 'fsync');

  it('group commit: appends made in one tick share one write and one fsync', async () => {
    const spool = await open({ fsync: 'always' });
    await spool.append('telemetry', payloadOf(0)); // creates the segment file (and syncs the directory)
    diagnostics.events.length = 0;
    const records = await Promise.all(
      Array.from({ length: 100 }, (_, i) => spool.append('telemetry', payloadOf(i + 1))),
    );
    expect(records).toHaveLength(100);
    expect(fsyncs()).toHaveLength(1);
    expect(fsyncs()[0]?.fields).toMatchObject({ files: 1, records: 100, directory: false });
  });

  it('group commit: what arrives while the disk is busy goes in the next batch', async () => {
    const spool = await open({ fsync: 'always' });
    const first = spool.append('telemetry', payloadOf(0));
    await Promise.resolve();
    await Promise.resolve();
    // The first commit is under way; these queue behind it and go together.
    const rest = Array.from({ length: 50 }, (_, i) => spool.append('telemetry', payloadOf(i + 1)));
    await Promise.all([first, ...rest]);
    expect(fsyncs().length).toBeLessThanOrEqual(2);
    expect(fsyncs().reduce((n, d) => n + Number(d.fields.records), 0)).toBe(51);
  });

  it('fsync interval: resolved appends are synced when the timer fires, not before', async () => {
    const clock = manualClock();
    const spool = await open({ fsync: 'interval', fsyncIntervalMs: 1000, clock });
    await spool.appendMany('telemetry', [payloadOf(1), payloadOf(2)]);
    await spool.append('priority', payloadOf(3));
    expect(fsyncs()).toHaveLength(0);
    expect(clock.pending()).toBe(1);
    clock.fire();
    await spool.peek('telemetry', 1); // runs after the sync on the spool's worker
    expect(fsyncs()).toHaveLength(1);
    expect(fsyncs()[0]?.fields).toMatchObject({ files: 2, directory: true });
    expect(clock.pending()).toBe(0);
  });

  it('durable(), fsync interval: answers after the fsync that covers every append resolved before it', async () => {
    const clock = manualClock();
    const spool = await open({ fsync: 'interval', fsyncIntervalMs: 1000, clock });
    expect(await spool.durable()).toBe(true); // nothing written: nothing to wait for
    await spool.appendMany('telemetry', [payloadOf(1), payloadOf(2)]);
    let answer: boolean | undefined;
    void spool.durable().then((d) => (answer = d));
    await spool.peek('telemetry', 1); // the spool's worker has run; no sync was due
    expect(answer).toBeUndefined();
    expect(fsyncs()).toHaveLength(0);
    clock.fire();
    await spool.peek('telemetry', 1);
    expect(fsyncs()).toHaveLength(1);
    expect(answer).toBe(true);
    expect(await spool.durable()).toBe(true); // synced since, nothing dirty
  });

  it('durable(), fsync interval: each call waits for the sync that covers what was appended before it', async () => {
    const clock = manualClock();
    const spool = await open({ fsync: 'interval', fsyncIntervalMs: 1000, clock });
    await spool.append('telemetry', payloadOf(1));
    clock.fire(); // the sync of record 1 is due and starts on the worker
    const first = spool.durable();
    await spool.append('telemetry', payloadOf(2)); // dirty again: a new timer
    const second = spool.durable();
    await expect(first).resolves.toBe(true);
    let answer: boolean | undefined;
    void second.then((d) => (answer = d));
    await spool.peek('telemetry', 1);
    expect(answer).toBeUndefined(); // record 2 is not synced yet
    expect(clock.pending()).toBe(1);
    clock.fire();
    await expect(second).resolves.toBe(true);
  });

  it('durable(): at once under always; false under never; closed is an error', async () => {
    const always = await open({ fsync: 'always' });
    await always.append('telemetry', payloadOf(1));
    expect(await always.durable()).toBe(true);
    await always.close();
    await expect(always.durable()).rejects.toMatchObject({ code: 'SPOOL_CLOSED' });
    const never = await open({ fsync: 'never' });
    await never.append('telemetry', payloadOf(2));
    expect(await never.durable()).toBe(false);
  });

  it('durable(), fsync interval: close() syncs and answers a waiting call', async () => {
    const clock = manualClock();
    const spool = await open({ fsync: 'interval', fsyncIntervalMs: 1000, clock });
    await spool.append('priority', payloadOf(1));
    const waiting = spool.durable();
    await spool.close();
    await expect(waiting).resolves.toBe(true);
    expect(fsyncs()).toHaveLength(1);
  });

  it('fsync never: no fsync at all', async () => {
    const spool = await open({ fsync: 'never' });
    await spool.appendMany('telemetry', [payloadOf(1), payloadOf(2)]);
    await spool.close();
    expect(fsyncs()).toHaveLength(0);
  });

  it('rolls segments at segmentBytes and deletes a sealed segment once all of it is acknowledged', async () => {
    const spool = await open({ segmentBytes: 1024 });
    const records = [];
    for (let i = 0; i < 40; i++) records.push(await spool.append('telemetry', payloadOf(i, 100)));
    const files = await segmentFiles();
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) expect((await stat(join(dir, f))).size).toBeLessThanOrEqual(1024);
    // Ack everything in the first segment only.
    const firstSegment = await spool.peek('telemetry', 8); // (1024 - 16) / 116 bytes a record
    await spool.ack(firstSegment.map((r) => r.id).reverse());
    expect(await segmentFiles()).toEqual(files.slice(1));
    await spool.ack(records.map((r) => r.id));
    // Only the active segment is left (its file is reused for the next appends).
    expect(await segmentFiles()).toHaveLength(1);
    expect(spool.stats().records).toEqual({ telemetry: 0, priority: 0 });
    await spool.close();
    const again = await open();
    expect(await segmentFiles()).toEqual([]);
    expect(again.stats().bytes).toBe(0);
  });

  it('finds records in segments whose index it let go of (many segments, after a reopen)', async () => {
    let spool = await open({ segmentBytes: 512 });
    const records = [];
    for (let i = 0; i < 300; i++)
      records.push(await spool.append(i % 7 === 0 ? 'priority' : 'telemetry', payloadOf(i, 60)));
    expect((await segmentFiles()).length).toBeGreaterThan(30);
    await spool.close();
    spool = await open({ segmentBytes: 512 });
    // Acks from the far end first, then peeks over everything.
    const ids = records.map((r) => r.id);
    const acked = new Set(ids.filter((_, i) => i % 3 === 0));
    await spool.ack([...acked].reverse());
    const want = records.filter((r) => !acked.has(r.id));
    const got = [...(await spool.peek('telemetry', 10_000)), ...(await spool.peek('priority', 10_000))];
    expect(got.map((r) => r.id).sort((a, b) => (a < b ? -1 : 1))).toEqual(want.map((r) => r.id));
    for (const r of got)
      expect([...r.payload]).toEqual([...(records.find((x) => x.id === r.id)?.payload ?? [])]);
  });

  it('reports a record that no longer reads back as written, counts it, and hands out the rest', async () => {
    const spool = await open({ segmentBytes: 1024 });
    const records = await spool.appendMany(
      'telemetry',
      [1, 2, 3].map((n) => payloadOf(n, 100)),
    );
    // Flip one payload byte of the second record in place (as failing flash would).
    const [file] = await segmentFiles();
    const handle = await openFile(join(dir, file ?? ''), 'r+');
    await handle.write(new Uint8Array([0xff ^ (payloadOf(2, 100)[50] ?? 0)]), 0, 1, 16 + 116 + 16 + 50);
    await handle.close();
    const got = await spool.peek('telemetry', 10);
    expect(got.map((r) => r.id)).toEqual([records[0]?.id, records[2]?.id]);
    expect(spool.stats()).toMatchObject({ corruptRecords: 1, records: { telemetry: 2 } });
    expect(diagnostics.events.find((d) => d.event === 'corrupt_record')?.level).toBe('error');
  });

  it('one process at a time: a second open fails (retriable) until the first closes; a dead owner is taken over', async () => {
    const spool = await open();
    const error = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'never' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpoolError);
    expect(error).toMatchObject({ code: 'SPOOL_IO', retriable: true });
    await spool.close();
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: 2 ** 22 + 1, bootId: '' }));
    await expect(open()).resolves.toBeDefined();
  });

  it('an I/O error on append is reported as SPOOL_IO, never swallowed, and the spool goes on', async () => {
    const spool = await open({ segmentBytes: 256 });
    await spool.append('telemetry', payloadOf(1, 200));
    // The next append needs a new segment file, in a directory that is gone.
    await rm(dir, { recursive: true, force: true });
    const error = await spool.append('telemetry', payloadOf(2, 200)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpoolError);
    expect(error).toMatchObject({ code: 'SPOOL_IO', retriable: false });
    expect(diagnostics.events.find((d) => d.event === 'append_failed')?.level).toBe('error');
  });

  it('a full disk (ENOSPC) on an ack is reported as a retriable SPOOL_IO', async () => {
    const spool = await open();
    const records = await spool.appendMany('telemetry', [payloadOf(1), payloadOf(2)]);
    const [file] = await segmentFiles();
    // Writes to /dev/full fail with ENOSPC: let the segment's ack log be it.
    await symlink('/dev/full', join(dir, (file ?? '').replace(/\.seg$/, '.ack')));
    const error = await spool.ack([records[0]?.id ?? 0n]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpoolError);
    expect(error).toMatchObject({ code: 'SPOOL_IO', retriable: true });
    expect((error as Error).message).toMatch(/ENOSPC/);
  });

  it('rejects options that cannot work', async () => {
    await expect(openFileSpool({ dir, maxBytes: 0, fsync: 'always' })).rejects.toThrow(RangeError);
    await expect(openFileSpool({ dir, maxBytes: 1024, fsync: 'sometimes' as 'always' })).rejects.toThrow(
      RangeError,
    );
  });

  it('announces opening with what it recovered', async () => {
    const spool = await open();
    await spool.append('priority', payloadOf(1));
    await spool.close();
    diagnostics.events.length = 0;
    await open();
    const opened = diagnostics.events.find((d) => d.event === 'opened');
    expect(opened?.fields).toMatchObject({ priority: 1, telemetry: 0, tornTails: 0 });
  });
});
