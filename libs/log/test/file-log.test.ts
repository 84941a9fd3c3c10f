/**
 * Unit tier, on real files: what only the file-backed log has — crash recovery of a torn tail,
 * other processes appending (real child processes), the partition lock, group commit, segments and
 * their index, compaction and retention. The Log contract itself is log-suite.file.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import diagnostics_channel from 'node:diagnostics_channel';
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFrame, frameSize, type FrameInput } from '../src/file/format.js';
import {
  createFileLog,
  FILE_LOG_CHANNELS,
  LogError,
  type FileLog,
  type FileLogCommitEvent,
  type FileLogConfig,
  type FileLogRecoveryEvent,
  type LogRecord,
} from '../src/index.js';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'file-log-writer.ts');
const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : dec.decode(bytes));

let dir = '';
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-file-log-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

function open(config: Omit<FileLogConfig, 'dir'> = {}): FileLog {
  return createFileLog({ dir, ...config });
}

const segmentFile = (topic: string, base: bigint, partition = 0): string =>
  join(dir, topic, String(partition), `${base.toString().padStart(20, '0')}.${'log'}`);
const headFile = (topic: string, partition = 0): string => join(dir, topic, String(partition), 'head');

function frame(offset: bigint, value: string): Buffer {
  const input: FrameInput = {
    key: Buffer.from('robot-t'),
    value: Buffer.from(value),
    headers: [],
    timestamp: 1,
  };
  const out = Buffer.alloc(frameSize(input));
  encodeFrame(input, offset, out, 0);
  return out;
}

async function readAll(log: FileLog, topic: string, partition = 0, from = 0n): Promise<LogRecord[]> {
  const reader = log.reader({ assignments: [{ topic, partition, offset: from }], maxWaitMs: 50 });
  const out: LogRecord[] = [];
  try {
    for (;;) {
      const round = await reader.poll();
      if (round.length === 0) return out;
      for (const batch of round) out.push(...batch.records);
    }
  } finally {
    await reader.close();
  }
}

function subscribe<T>(channel: string): T[] {
  const events: T[] = [];
  const listener = (message: unknown): void => void events.push(message as T);
  diagnostics_channel.subscribe(channel, listener);
  cleanups.push(() => void diagnostics_channel.unsubscribe(channel, listener));
  return events;
}

function child(args: readonly string[]): {
  process: ChildProcess;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const proc = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
  cleanups.push(() => void proc.kill('SIGKILL'));
  return { process: proc, exited };
}

describe('file log crash recovery', () => {
  it('cuts a torn tail (a crash mid-write) found by CRC and goes on at the cut', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'crash', partitions: 1 }]);
    const first = log.producer();
    await first.send(
      [0, 1, 2, 3, 4].map((i) => ({ topic: 'crash', key: 'robot-t', value: enc.encode(`v${i}`) })),
    );
    await first.close();
    const committed = statSync(segmentFile('crash', 0n)).size;

    // The process died halfway through writing the frame of offset 5.
    const torn = frame(5n, 'never acknowledged '.repeat(10));
    appendFileSync(segmentFile('crash', 0n), torn.subarray(0, Math.floor(torn.length / 2)));
    // Readers go by the head: they never see the torn bytes.
    expect((await readAll(log, 'crash')).map((r) => text(r.value))).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);

    const recoveries = subscribe<FileLogRecoveryEvent>(FILE_LOG_CHANNELS.recovery);
    const second = log.producer();
    expect(await second.send([{ topic: 'crash', key: 'robot-t', value: enc.encode('v5') }])).toEqual([
      { topic: 'crash', partition: 0, offset: 5n },
    ]);
    await second.close();
    expect(recoveries).toEqual([
      expect.objectContaining({
        topic: 'crash',
        adoptedRecords: 0,
        truncatedBytes: Math.floor(torn.length / 2),
        nextOffset: 5n,
      }),
    ]);
    const read = await readAll(log, 'crash');
    expect(read.map((r) => [r.offset, text(r.value)])).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => [BigInt(i), `v${i}`]),
    );
    expect(statSync(segmentFile('crash', 0n)).size).toBe(committed + frame(5n, 'v5').length);
  });

  it('cuts at a corrupt frame past the head, and everything after it', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'flip', partitions: 1 }]);
    const p = log.producer();
    await p.send([{ topic: 'flip', key: 'robot-t', value: enc.encode('v0') }]);
    await p.close();
    const damaged = frame(1n, 'damaged');
    damaged[damaged.length - 2] = (damaged[damaged.length - 2] ?? 0) ^ 0xff;
    appendFileSync(segmentFile('flip', 0n), Buffer.concat([damaged, frame(2n, 'after the damage')]));

    const recoveries = subscribe<FileLogRecoveryEvent>(FILE_LOG_CHANNELS.recovery);
    const again = log.producer();
    expect((await again.send([{ topic: 'flip', key: 'robot-t', value: enc.encode('v1') }]))[0]?.offset).toBe(
      1n,
    );
    await again.close();
    expect(recoveries[0]).toMatchObject({
      truncatedBytes: damaged.length + frame(2n, 'after the damage').length,
    });
    expect((await readAll(log, 'flip')).map((r) => text(r.value))).toEqual(['v0', 'v1']);
    expect(statSync(segmentFile('flip', 0n)).size).toBe(frame(0n, 'v0').length + frame(1n, 'v1').length);
  });

  it('keeps fsynced records whose head update was lost, and never reuses their offsets', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'stale-head', partitions: 1 }]);
    const p = log.producer();
    await p.send([0, 1].map((i) => ({ topic: 'stale-head', key: 'robot-t', value: enc.encode(`v${i}`) })));
    const oldHead = readFileSync(headFile('stale-head'));
    await p.send([2, 3, 4].map((i) => ({ topic: 'stale-head', key: 'robot-t', value: enc.encode(`v${i}`) })));
    await p.close();
    // The machine lost the head's last rewrite (it is not fsynced); the records were fsynced.
    writeFileSync(headFile('stale-head'), oldHead);
    expect(await log.admin().endOffsets('stale-head')).toEqual([2n]);

    const recoveries = subscribe<FileLogRecoveryEvent>(FILE_LOG_CHANNELS.recovery);
    const again = log.producer();
    expect(
      (await again.send([{ topic: 'stale-head', key: 'robot-t', value: enc.encode('v5') }]))[0]?.offset,
    ).toBe(5n);
    await again.close();
    expect(recoveries[0]).toMatchObject({ adoptedRecords: 3, truncatedBytes: 0 });
    expect((await readAll(log, 'stale-head')).map((r) => text(r.value))).toEqual([
      'v0',
      'v1',
      'v2',
      'v3',
      'v4',
      'v5',
    ]);
  });

  it('reports a damaged committed record instead of skipping it', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'rot', partitions: 1 }]);
    const p = log.producer();
    await p.send([0, 1, 2].map((i) => ({ topic: 'rot', key: 'robot-t', value: enc.encode(`value-${i}`) })));
    await p.close();
    const bytes = readFileSync(segmentFile('rot', 0n));
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0x01;
    writeFileSync(segmentFile('rot', 0n), bytes);
    const reader = log.reader({ assignments: [{ topic: 'rot', partition: 0, offset: 2n }], maxWaitMs: 50 });
    cleanups.push(() => reader.close());
    await expect(reader.poll()).rejects.toMatchObject({ code: 'BROKER' });
  });
});

describe('file log with several processes', () => {
  it('shows a reader the records another process appends while it reads', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'mp-read', partitions: 2 }]);
    const reader = log.reader({
      assignments: [{ topic: 'mp-read', partition: 1, offset: 0n }],
      maxWaitMs: 200,
    });
    cleanups.push(() => reader.close());
    const writer = child([WRITER, dir, 'mp-read', '1', '600', '3', 'child']);
    let exitedAt = Infinity;
    void writer.exited.then(() => (exitedAt = Date.now()));
    const seqs: number[] = [];
    let firstAt = Infinity;
    const deadline = Date.now() + 60_000;
    while (seqs.length < 600 && Date.now() < deadline) {
      for (const batch of await reader.poll()) {
        firstAt = Math.min(firstAt, Date.now());
        for (const r of batch.records) {
          expect(r.offset).toBe(BigInt(seqs.length));
          seqs.push(Number((text(r.value) ?? '').split('#')[1]));
        }
      }
    }
    const result = await writer.exited;
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('done 599');
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i));
    // Read while the other process was still writing, not after.
    expect(firstAt).toBeLessThan(exitedAt);
  });

  it('lets two processes write the same partition in turn: dense offsets, each writer in order', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'mp-write', partitions: 1 }]);
    // The child pauses 2 ms between its sends, so that it is still writing while this process does.
    const writer = child([WRITER, dir, 'mp-write', '0', '800', '2', 'child', '2']);
    const admin = log.admin();
    // Start once the child is visibly writing, so that the two really overlap.
    const deadline = Date.now() + 60_000;
    while ((await admin.endOffsets('mp-write'))[0] === 0n && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const producer = log.producer();
    for (let i = 0; i < 300; i += 3) {
      await producer.send(
        [i, i + 1, i + 2].map((n) => ({
          topic: 'mp-write',
          key: 'parent',
          value: enc.encode(`parent#${n}`),
        })),
      );
    }
    await producer.close();
    const result = await writer.exited;
    expect(result.stderr).toBe('');
    expect(await admin.endOffsets('mp-write')).toEqual([1100n]);

    const read = await readAll(log, 'mp-write');
    expect(read.map((r) => r.offset)).toEqual(Array.from({ length: 1100 }, (_, i) => BigInt(i)));
    const byTag = new Map<string, number[]>();
    const order: string[] = [];
    for (const r of read) {
      const [tag = '', seq = ''] = (text(r.value) ?? '').split('#');
      byTag.set(tag, [...(byTag.get(tag) ?? []), Number(seq)]);
      if (order[order.length - 1] !== tag) order.push(tag);
    }
    expect(byTag.get('child')).toEqual(Array.from({ length: 800 }, (_, i) => i));
    expect(byTag.get('parent')).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // Overlapped: the child wrote before, and again after, some of this process's records.
    expect(order[0]).toBe('child');
    expect(order[order.length - 1]).toBe('child');
    expect(order.length).toBeGreaterThanOrEqual(3);
  });

  it('breaks the lock of a writer that died holding it, and waits for a live one', async () => {
    const log = open({ lockTimeoutMs: 400 });
    await log.admin().createTopics([{ name: 'locked', partitions: 1 }]);
    const lockFile = join(dir, 'locked', '0', 'writer.lock');
    const producer = log.producer();
    cleanups.push(() => producer.close());

    // A live holder (another process that keeps running): the writer waits, then gives up.
    const holder = child(['-e', 'setTimeout(() => {}, 60_000)']);
    writeFileSync(lockFile, `${holder.process.pid}\n\n${hostname()}\n`);
    const error = await producer
      .send([{ topic: 'locked', key: 'robot-l', value: enc.encode('x') }])
      .catch((e: unknown) => e);
    expect(LogError.is(error, 'TIMEOUT')).toBe(true);
    expect(error).toMatchObject({ retriable: true });

    // The holder dies without releasing it: the lock is stale and the next write breaks it.
    holder.process.kill('SIGKILL');
    await holder.exited;
    const [written] = await producer.send([{ topic: 'locked', key: 'robot-l', value: enc.encode('y') }]);
    expect(written?.offset).toBe(0n);
    expect(readdirSync(join(dir, 'locked', '0'))).not.toContain('writer.lock');
  });
});

describe('file log group commit', () => {
  it('makes concurrent sends durable with shared fsyncs, in call order', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'group', partitions: 1 }]);
    const commits = subscribe<FileLogCommitEvent>(FILE_LOG_CHANNELS.commit);
    const producer = log.producer();
    const produced = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        producer.send([{ topic: 'group', key: 'robot-g', value: enc.encode(`v${i}`) }]),
      ),
    );
    await producer.close();
    expect(produced.map((p) => p[0]?.offset)).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i)));
    const mine = commits.filter((c) => c.topic === 'group');
    expect(mine.reduce((n, c) => n + c.records, 0)).toBe(200);
    expect(mine.reduce((n, c) => n + c.appends, 0)).toBe(200);
    // 200 sends, a handful of fsyncs: those made during one fsync go together in the next.
    expect(mine.length).toBeLessThanOrEqual(10);
    expect(Math.max(...mine.map((c) => c.appends))).toBeGreaterThan(1);
  });
});

describe('file log segments', () => {
  it('rolls segments and finds any offset through the sparse index', async () => {
    const log = open({ indexIntervalBytes: 200 });
    await log.admin().createTopics([{ name: 'rolled', partitions: 1, config: { 'segment.bytes': '4096' } }]);
    const producer = log.producer();
    for (let i = 0; i < 500; i += 25) {
      await producer.send(
        Array.from({ length: 25 }, (_, j) => ({
          topic: 'rolled',
          key: 'robot-s',
          value: enc.encode(`value-${i + j}`),
        })),
      );
    }
    await producer.close();
    const files = readdirSync(join(dir, 'rolled', '0'));
    expect(files.filter((f) => f.endsWith('.log')).length).toBeGreaterThan(3);
    expect(
      statSync(join(dir, 'rolled', '0', files.find((f) => f.endsWith('.idx')) ?? '')).size,
    ).toBeGreaterThan(0);

    const reader = log.reader({
      assignments: [{ topic: 'rolled', partition: 0, offset: 0n }],
      maxWaitMs: 50,
    });
    cleanups.push(() => reader.close());
    for (const target of [0, 1, 57, 58, 199, 250, 311, 498, 499, 123, 3]) {
      reader.seek({ topic: 'rolled', partition: 0, offset: BigInt(target) });
      const [batch] = await reader.poll();
      expect(batch?.records[0]?.offset).toBe(BigInt(target));
      expect(text(batch?.records[0]?.value ?? null)).toBe(`value-${target}`);
      expect(batch?.highWatermark).toBe(500n);
    }
    expect((await readAll(log, 'rolled')).map((r) => r.offset)).toEqual(
      Array.from({ length: 500 }, (_, i) => BigInt(i)),
    );
  });

  it('refuses a record larger than maxRecordBytes as poison', async () => {
    const log = open({ maxRecordBytes: 1024 });
    await log.admin().createTopics([{ name: 'big', partitions: 1 }]);
    const producer = log.producer();
    cleanups.push(() => producer.close());
    await expect(
      producer.send([{ topic: 'big', key: 'robot-b', value: new Uint8Array(2000) }]),
    ).rejects.toMatchObject({ code: 'RECORD_REJECTED', poison: true, retriable: false });
    expect(await log.admin().endOffsets('big')).toEqual([0n]);
  });

  it('reports a topic deleted under a reader as NOT_FOUND', async () => {
    const log = open();
    await log.admin().createTopics([{ name: 'gone', partitions: 1 }]);
    const producer = log.producer();
    await producer.send([{ topic: 'gone', key: 'robot-g', value: enc.encode('x') }]);
    await producer.close();
    const reader = log.reader({ assignments: [{ topic: 'gone', partition: 0, offset: 0n }], maxWaitMs: 50 });
    cleanups.push(() => reader.close());
    expect((await reader.poll())[0]?.records).toHaveLength(1);
    await log.admin().deleteTopics(['gone']);
    await expect(reader.poll()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('file log compaction and retention', () => {
  it('keeps the latest record per key in closed segments, and drops expired tombstones', async () => {
    const now = Date.now();
    const log = open();
    const admin = log.admin();
    await admin.createTopics([
      {
        name: 'metadata',
        partitions: 1,
        compacted: true,
        config: { 'segment.bytes': '512', 'delete.retention.ms': '60000' },
      },
    ]);
    const producer = log.producer();
    const robots = ['robot-0', 'robot-1', 'robot-2', 'robot-3', 'robot-4'];
    for (let round = 0; round < 10; round++) {
      await producer.send(
        robots.map((key) => ({ topic: 'metadata', key, value: enc.encode(`${key}@${round}`) })),
      );
    }
    await producer.send([
      { topic: 'metadata', key: 'robot-4', value: null, timestamp: now - 120_000 }, // past delete.retention.ms
      { topic: 'metadata', key: 'robot-3', value: null, timestamp: now }, // recent: kept
    ]);
    // Push the tombstones out of the active segment.
    for (let i = 0; i < 30; i++)
      await producer.send([{ topic: 'metadata', key: 'robot-9', value: enc.encode(`robot-9@${i}`) }]);
    await producer.close();
    const end = await admin.endOffsets('metadata');
    const bytesBefore = readdirSync(join(dir, 'metadata', '0'))
      .filter((f) => f.endsWith('.log'))
      .reduce((n, f) => n + statSync(join(dir, 'metadata', '0', f)).size, 0);

    await admin.compact('metadata');

    const segments = readdirSync(join(dir, 'metadata', '0'))
      .filter((f) => f.endsWith('.log'))
      .sort();
    const activeBase = BigInt((segments[segments.length - 1] ?? '').replace('.log', ''));
    const bytesAfter = segments.reduce((n, f) => n + statSync(join(dir, 'metadata', '0', f)).size, 0);
    expect(bytesAfter).toBeLessThan(bytesBefore);
    expect(await admin.endOffsets('metadata')).toEqual(end);
    expect(await admin.beginOffsets('metadata')).toEqual([0n]);

    const read = await readAll(log, 'metadata');
    const offsets = read.map((r) => r.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : 1)));
    const latest = new Map<string, LogRecord>();
    for (const r of read) latest.set(text(r.key) ?? '', r);
    // Closed segments hold only each key's latest record; the active one is untouched.
    for (const r of read) {
      if (r.offset < activeBase) expect(latest.get(text(r.key) ?? '')?.offset).toBe(r.offset);
    }
    expect(read.filter((r) => r.offset < activeBase).length).toBeLessThanOrEqual(robots.length + 1);
    expect(text(latest.get('robot-0')?.value ?? null)).toBe('robot-0@9');
    expect(text(latest.get('robot-2')?.value ?? null)).toBe('robot-2@9');
    expect(latest.get('robot-3')?.value).toBeNull();
    expect(latest.has('robot-4')).toBe(false);
    expect(text(latest.get('robot-9')?.value ?? null)).toBe('robot-9@29');

    // A read starting at a compacted-away offset starts at the next record still stored.
    const fromGap = await readAll(log, 'metadata', 0, 1n);
    expect(fromGap[0]?.offset).toBe(read.find((r) => r.offset >= 1n)?.offset);
  });

  it('deletes the oldest closed segments past retention.bytes; reads below the begin are out of range', async () => {
    const log = open();
    const admin = log.admin();
    await admin.createTopics([
      { name: 'retained', partitions: 1, config: { 'segment.bytes': '1024', 'retention.bytes': '3000' } },
    ]);
    const producer = log.producer();
    for (let i = 0; i < 200; i++) {
      await producer.send([{ topic: 'retained', key: 'robot-r', value: enc.encode(`value-${i}`) }]);
    }
    await producer.close();
    await admin.compact('retained');
    const [begin = 0n] = await admin.beginOffsets('retained');
    expect(begin).toBeGreaterThan(0n);
    const bytes = readdirSync(join(dir, 'retained', '0'))
      .filter((f) => f.endsWith('.log'))
      .reduce((n, f) => n + statSync(join(dir, 'retained', '0', f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(3000 + 1024);

    const read = await readAll(log, 'retained', 0, begin);
    expect(read.map((r) => r.offset)).toEqual(
      Array.from({ length: 200 - Number(begin) }, (_, i) => begin + BigInt(i)),
    );
    const reader = log.reader({
      assignments: [{ topic: 'retained', partition: 0, offset: 0n }],
      maxWaitMs: 50,
    });
    cleanups.push(() => reader.close());
    await expect(reader.poll()).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
  });
});
