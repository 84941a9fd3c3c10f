/**
 * Integration (real processes, real files, real SIGKILL): the file spool loses nothing it said it
 * had. A child process (test/spool/crash-child.ts) appends and acknowledges as fast as it can and
 * writes every append and ack that resolved, and every ack it is about to request, to a facts file;
 * it is killed with SIGKILL at a random moment; the spool reopened here must hold every reported
 * append that no ack was requested for, in order, with its bytes, and none whose ack was reported
 * resolved. Then torn tails: the last bytes of a segment cut off, garbled or followed by zeros (what
 * power loss leaves) are cut on open, and only the torn record is lost and counted.
 *
 * Power loss itself cannot be simulated here; what `fsync` adds for it is argued in file-spool.ts.
 */
import { spawn } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  appendFile,
  mkdtemp,
  open as openFile,
  readdir,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentDiagnostic } from '../src/diagnostics.js';
import { openFileSpool, type FsyncPolicy } from '../src/spool/file-spool.js';
import type { SpoolRecord } from '../src/spool/spool.js';
import { payloadOf } from './spool/contract.js';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./spool/crash-child.ts', import.meta.url));
const ROUNDS = 4;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-spool-crash-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What crash-child.ts appends as record number n (n is the first four bytes of `like`). */
function childPayload(like: Uint8Array): Uint8Array {
  const n = new DataView(like.buffer, like.byteOffset).getUint32(0, true);
  const bytes = new Uint8Array(80);
  new DataView(bytes.buffer).setUint32(0, n, true);
  for (let i = 4; i < bytes.length; i++) bytes[i] = (n * 7 + i) & 0xff;
  return bytes;
}

interface ChildReport {
  /** id -> n of every append the child saw resolve (`A`). */
  readonly appended: Map<bigint, number>;
  /**
   * Ids the child was about to acknowledge (`k`, written before `ack` was called): each may be gone
   * after the kill, because its ack may have reached the disk before its reply reached the child.
   */
  readonly ackRequested: Set<bigint>;
  /** Ids whose ack resolved (`K`): each must be gone. */
  readonly acked: Set<bigint>;
}

/**
 * The child's facts file, read while it grows. Only whole lines count: the kill may cut the last
 * one. Every whole line must be a fact the child writes; anything else fails the test.
 */
class FactsReader {
  readonly report: ChildReport = { appended: new Map(), ackRequested: new Set(), acked: new Set() };
  private offset = 0;
  private partial = '';

  constructor(private readonly path: string) {}

  async poll(): Promise<void> {
    const handle = await openFile(this.path, 'r');
    try {
      const buffer = Buffer.alloc(1 << 16);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const lines = (this.partial + buffer.toString('latin1', 0, bytesRead)).split('\n');
        this.partial = lines.pop() ?? '';
        for (const line of lines) this.take(line);
      }
    } finally {
      await handle.close();
    }
  }

  private take(line: string): void {
    const [kind, id, n, ...rest] = line.split(' ');
    const ok = rest.length === 0 && id !== undefined && /^\d+$/.test(id);
    if (kind === 'A' && ok && n !== undefined && /^\d+$/.test(n))
      this.report.appended.set(BigInt(id), Number(n));
    else if (kind === 'k' && ok && n === undefined) this.report.ackRequested.add(BigInt(id));
    else if (kind === 'K' && ok && n === undefined) this.report.acked.add(BigInt(id));
    else if (line !== 'READY')
      throw new Error(`crash-child wrote a line that is no fact: ${JSON.stringify(line)}`);
  }
}

/**
 * Runs the child on `spoolDir` until it has reported at least `minAppends` resolved appends, then
 * `extraMs` more, then SIGKILL; returns everything it reported.
 */
async function runAndKill(
  spoolDir: string,
  factsPath: string,
  policy: FsyncPolicy,
  minAppends: number,
  extraMs: number,
): Promise<ChildReport> {
  await writeFile(factsPath, '');
  const facts = new FactsReader(factsPath);
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, spoolDir, policy, factsPath], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let ended = false;
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('close', (code, signal) => {
      ended = true;
      resolve(signal ?? code);
    }),
  );
  const giveUp = Date.now() + 30_000;
  try {
    while (!ended && facts.report.appended.size < minAppends && Date.now() < giveUp) {
      await sleep(5);
      await facts.poll();
    }
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
  const killTimer = setTimeout(() => child.kill('SIGKILL'), extraMs);
  const how = await exited;
  clearTimeout(killTimer);
  // The child is gone: whatever it wrote is in the file (writeSync returned), nothing is in flight.
  await facts.poll();
  expect(how, `child ended by itself: ${stderr}`).toBe('SIGKILL');
  const { appended, ackRequested, acked } = facts.report;
  expect(appended.size, stderr).toBeGreaterThanOrEqual(minAppends);
  expect(
    [...acked].filter((id) => !ackRequested.has(id)),
    'acks reported without their request',
  ).toEqual([]);
  return facts.report;
}

describe('kill -9 while appending', () => {
  for (const policy of ['always', 'interval', 'never'] as const) {
    it(`fsync ${policy}: every append reported as resolved survives, in order; every reported ack holds`, async () => {
      const root = dir; // this test's own directory, whatever happens to `dir` after it
      for (let round = 0; round < ROUNDS; round++) {
        const spoolDir = join(root, `round-${round}`);
        const { appended, ackRequested, acked } = await runAndKill(
          spoolDir,
          join(root, `round-${round}.facts`),
          policy,
          200 + Math.floor(Math.random() * 3000),
          Math.floor(Math.random() * 150),
        );
        const spool = await openFileSpool({ dir: spoolDir, maxBytes: 512 * 1024 * 1024, fsync: 'never' });
        try {
          const held: SpoolRecord[] = [];
          for (const cls of ['telemetry', 'priority'] as const) {
            const records = await spool.peek(cls, 10_000_000);
            const ids = records.map((r) => r.id);
            expect(ids, 'in order').toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
            held.push(...records);
          }
          // Nothing handed out is damaged: every record is exactly what the child wrote for its n.
          for (const r of held) expect([...r.payload]).toEqual([...childPayload(r.payload)]);
          const byId = new Map(held.map((r) => [r.id, r]));
          const lost: string[] = [];
          const resent: string[] = [];
          for (const [id, n] of appended) {
            const record = byId.get(id);
            if (acked.has(id)) {
              if (record !== undefined) resent.push(`id ${id} (n ${n})`);
              continue;
            }
            if (record === undefined) {
              // Only an ack the child had asked for may have taken it (its reply died with the child).
              if (!ackRequested.has(id)) lost.push(`id ${id} (n ${n})`);
              continue;
            }
            expect(new DataView(record.payload.buffer, record.payload.byteOffset).getUint32(0, true)).toBe(n);
          }
          expect(lost, `round ${round}: resolved appends lost`).toEqual([]);
          // Under kill -9 an ack that resolved is in the page cache too: nothing acknowledged comes back.
          expect(resent, `round ${round}: acknowledged records back`).toEqual([]);
          expect(spool.stats().droppedTelemetry).toBe(0);
          const maxReported = [...appended.keys()].reduce((a, b) => (a > b ? a : b), 0n);
          expect((await spool.append('telemetry', payloadOf(1))).id).toBeGreaterThan(maxReported);
        } finally {
          await spool.close();
        }
      }
    });
  }
});

describe('torn tails', () => {
  let events: AgentDiagnostic[];
  const listener = (message: unknown): void => void events.push(message as AgentDiagnostic);
  beforeEach(() => {
    events = [];
    diagnosticsChannel.subscribe('fleet:agent:spool', listener);
  });
  afterEach(() => {
    diagnosticsChannel.unsubscribe('fleet:agent:spool', listener);
  });

  const PAYLOAD = 80;
  const RECORD = 16 + PAYLOAD;

  /** Ten telemetry records in one segment, spool closed; returns them and the segment's path. */
  async function tenRecords(): Promise<{ records: readonly SpoolRecord[]; segment: string }> {
    const spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'always' });
    const records = await spool.appendMany(
      'telemetry',
      Array.from({ length: 10 }, (_, i) => payloadOf(i, PAYLOAD)),
    );
    await spool.close();
    const [name] = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
    return { records, segment: join(dir, name ?? '') };
  }

  async function reopenAndCheck(
    records: readonly SpoolRecord[],
    kept: number,
    segment: string,
  ): Promise<void> {
    const spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'always' });
    try {
      const got = await spool.peek('telemetry', 100);
      expect(got.map((r) => [r.id, [...r.payload]])).toEqual(
        records.slice(0, kept).map((r) => [r.id, [...r.payload]]),
      );
      expect(spool.stats().corruptRecords).toBe(1);
      expect((await stat(segment)).size).toBe(16 + kept * RECORD);
      expect(events.find((e) => e.event === 'truncated_tail')?.fields).toMatchObject({ recordsKept: kept });
      // The spool goes on normally: new records land in a new segment and everything reads back.
      const next = await spool.append('telemetry', payloadOf(99, PAYLOAD));
      await spool.close();
      const again = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'always' });
      expect((await again.peek('telemetry', 100)).map((r) => r.id)).toEqual(
        [...records.slice(0, kept), next].map((r) => r.id),
      );
      expect(again.stats().corruptRecords).toBe(1); // counted once, not again on every open
      await again.close();
    } finally {
      await spool.close();
    }
  }

  for (const cut of [1, 8, 15, 16, 17, RECORD - 1]) {
    it(`the last record cut ${cut} byte(s) short is cut off and counted; the nine before it are kept`, async () => {
      const { records, segment } = await tenRecords();
      await truncate(segment, 16 + 10 * RECORD - cut);
      await reopenAndCheck(records, 9, segment);
    });
  }

  it('garbled last bytes: the record is cut off and counted, never handed out', async () => {
    const { records, segment } = await tenRecords();
    const handle = await openFile(segment, 'r+');
    await handle.write(new Uint8Array([0xde, 0xad, 0xbe]), 0, 3, 16 + 10 * RECORD - 3);
    await handle.close();
    await reopenAndCheck(records, 9, segment);
  });

  it('zeros after the last record (a power loss after the size grew): all records kept, the zeros cut', async () => {
    const { records, segment } = await tenRecords();
    await appendFile(segment, new Uint8Array(4096));
    await reopenAndCheck(records, 10, segment);
  });

  it('a torn ack batch forgets only its own acks, and later acks are not lost behind it', async () => {
    const { records } = await tenRecords();
    let spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'always' });
    await spool.ack([records[0]!.id]);
    await spool.ack([records[1]!.id, records[2]!.id]);
    await spool.close();
    const [ackLog] = (await readdir(dir)).filter((n) => n.endsWith('.ack'));
    const ackPath = join(dir, ackLog ?? '');
    await truncate(ackPath, (await stat(ackPath)).size - 3);
    spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'always' });
    // The second batch is torn: records 1 and 2 come back (sent again: a duplicate, never a loss).
    expect((await spool.peek('telemetry', 100)).map((r) => r.id)).toEqual(records.slice(1).map((r) => r.id));
    await spool.ack([records[5]!.id]);
    await spool.close();
    spool = await openFileSpool({ dir, maxBytes: 1 << 20, fsync: 'always' });
    expect((await spool.peek('telemetry', 100)).map((r) => r.id)).toEqual(
      records.filter((_, i) => i !== 0 && i !== 5).map((r) => r.id),
    );
    await spool.close();
  });
});
