/**
 * The agent's side of spool-crash.int.test.ts: opens the file spool in `argv[2]` with fsync policy
 * `argv[3]` and appends as fast as it can until it is killed, from several appenders at once (so
 * that appends are group-committed) plus one acker. It writes what happened to the facts file
 * `argv[4]`, one line per fact:
 *
 *   A <id> <n>   append number n resolved with id <id>            (written after the append resolved)
 *   k <id>       ack of <id> is about to be requested              (written BEFORE `spool.ack` is called)
 *   K <id>       ack of <id> resolved                              (written after the ack resolved)
 *
 * Facts go to a file with writeSync, not to stdout: a line is in the kernel (page cache) when
 * writeSync returns, so it survives kill -9 exactly as a resolved append does. stdout to a pipe is
 * asynchronous in Node on POSIX: when the reader falls behind, lines wait in the process and die with
 * it. Losing an `A` line only hides a fact, but losing a `K` line (the ack reached the disk, its
 * report did not) once made an acknowledged record look like a lost append. With `k` written
 * before the ack is requested, the test knows every record that may legitimately be gone.
 *
 * Run as: node --import tsx crash-child.ts <dir> <always|interval|never> <facts file>
 */
import { openSync, writeSync } from 'node:fs';
import { openFileSpool, type FsyncPolicy } from '../../src/spool/file-spool.js';
import type { SpoolClass } from '../../src/spool/spool.js';

const [dir, policy, factsPath] = process.argv.slice(2);
if (
  dir === undefined ||
  factsPath === undefined ||
  (policy !== 'always' && policy !== 'interval' && policy !== 'never')
) {
  process.stderr.write('usage: crash-child.ts <dir> <always|interval|never> <facts file>\n');
  process.exit(2);
}

const facts = openSync(factsPath, 'a');
/** Writes whole lines in one write(2); returns once the kernel has them. */
const fact = (lines: readonly string[]): void => {
  const bytes = Buffer.from(lines.map((line) => `${line}\n`).join(''));
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(facts, bytes, done, bytes.byteLength - done);
};

const spool = await openFileSpool({
  dir,
  maxBytes: 512 * 1024 * 1024,
  fsync: policy as FsyncPolicy,
  fsyncIntervalMs: 50,
  // Small segments: rolls, ack logs and deletions all happen within the crash window.
  segmentBytes: 16 * 1024,
});
fact(['READY']);

let counter = 0;

function payload(n: number): Uint8Array {
  const bytes = new Uint8Array(80);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, n, true);
  for (let i = 4; i < bytes.length; i++) bytes[i] = (n * 7 + i) & 0xff;
  return bytes;
}

async function appender(lane: number): Promise<never> {
  for (;;) {
    const cls: SpoolClass = counter % 10 === 3 ? 'priority' : 'telemetry';
    if (lane % 2 === 0) {
      const n = counter++;
      const appended = await spool.append(cls, payload(n));
      fact([`A ${appended.id} ${n}`]);
    } else {
      const ns = Array.from({ length: 5 }, () => counter++);
      const appended = await spool.appendMany(cls, ns.map(payload));
      fact(appended.map((r, i) => `A ${r.id} ${ns[i]}`));
    }
  }
}

/** Acknowledges every record whose n is a multiple of 3, as a broker would, in no particular order. */
async function acker(): Promise<never> {
  const cursor: Record<SpoolClass, bigint> = { telemetry: 0n, priority: 0n };
  for (;;) {
    for (const cls of ['telemetry', 'priority'] as const) {
      const records = await spool.peek(cls, 64, cursor[cls]);
      cursor[cls] = records.at(-1)?.id ?? cursor[cls];
      const ids = records
        .filter((r) => new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0, true) % 3 === 0)
        .map((r) => r.id)
        .reverse();
      if (ids.length === 0) continue;
      fact(ids.map((id) => `k ${id}`));
      await spool.ack(ids);
      fact(ids.map((id) => `K ${id}`));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

await Promise.all([appender(0), appender(1), appender(2), appender(3), acker()]);
